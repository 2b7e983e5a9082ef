import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isolatedApp } from '../server/run-helpers.js';
import { sleep, token } from '../server/helpers.js';
import { cli, json, keepSecret, tempHome } from './cli-helpers.js';

type Schedule = {
  id: string;
  name: string;
  agentId: string;
  cron: string;
  timezone: string;
  status: string;
  nextRunAt: string | null;
  missedRunPolicy: string;
  input: Record<string, unknown>;
};
type Trigger = {
  id: string;
  name: string;
  agentId: string;
  status: string;
  authentication: string;
  inputMapping: Record<string, string> | null;
  url: string;
  secret?: string;
};
type Invocation = { object: string; triggerId: string; runId: string; duplicate: boolean };
type Run = { id: string; agentId: string; status: string; input: Record<string, unknown>; triggeredBy: { type: string; id: string | null } | null };
type Endpoint = { id: string; url: string; eventTypes: string[]; enabled: boolean; disabledReason: string | null; description: string | null; secret?: string };
type Message = {
  id: string;
  endpointId: string;
  eventType: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  payload: { id: string; type: string; data: Record<string, unknown> };
};
type Attempt = { attempt: number; statusCode: number | null; durationMs: number; error: string | null; url: string };
type Page<T> = { data: T[]; pagination: { total: number } };

let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

beforeAll(async () => {
  // An application of this file's own: the webhook endpoint below sees only this file's events.
  const app = await isolatedApp('cli-automation');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });
const newAgent = async (name = `cli automation ${token()}`) =>
  json<{ id: string }>(await run(['agents', 'create', '--name', name, '--model', 'echo', '--json'])).id;

/** Polls `condition` (bounded) until it holds. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('switchboard schedules', () => {
  it('creates, lists, shows, pauses, resumes, updates and deletes a schedule', async () => {
    const agent = await newAgent();
    const name = `cli schedule ${token()}`;
    const created = json<Schedule>(
      await run([
        'schedules',
        'create',
        '--name',
        name,
        '--agent',
        agent,
        '--cron',
        '0 9 * * 1-5',
        '--timezone',
        'Europe/Berlin',
        '--input',
        '{"report": "daily"}',
        '--missed-run-policy',
        'runOnce',
        '--json',
      ]),
    );
    expect(created).toMatchObject({
      name,
      agentId: agent,
      cron: '0 9 * * 1-5',
      timezone: 'Europe/Berlin',
      status: 'active',
      missedRunPolicy: 'runOnce',
      input: { report: 'daily' },
    });
    expect(created.id).toMatch(/^sched_/);
    expect(created.nextRunAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z$/);

    const table = await run(['schedules', 'list', '--agent', agent]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +AGENT +CRON +TIMEZONE +STATUS +NEXT RUN$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${created.id} +${name} +${agent} +0 9 \\* \\* 1-5 +Europe/Berlin +active +\\d{4}-\\d{2}-\\d{2} \\d{2}:00:00$`));
    expect(lines[1]!.indexOf('Europe/Berlin')).toBe(lines[0]!.indexOf('TIMEZONE'));

    const shown = await run(['schedules', 'get', created.id]);
    expect(shown.stdout).toMatch(new RegExp(`^id: +${created.id}$`, 'm'));
    expect(shown.stdout).toMatch(/^cron: +0 9 \* \* 1-5$/m);

    const paused = json<Schedule>(await run(['schedules', 'pause', created.id, '--json']));
    expect(paused).toMatchObject({ status: 'paused', nextRunAt: null });
    expect(json<Page<Schedule>>(await run(['schedules', 'list', '--agent', agent, '--status', 'paused', '--json'])).data.map((s) => s.id)).toEqual([
      created.id,
    ]);
    const resumed = await run(['schedules', 'resume', created.id]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^status: +active$/m);

    const updated = json<Schedule>(
      await run(['schedules', 'update', created.id, '--cron', '30 6 * * *', '--timezone', 'UTC', '--input', '{"report": null, "kind": "early"}', '--json']),
    );
    expect(updated).toMatchObject({ cron: '30 6 * * *', timezone: 'UTC', status: 'active', input: { kind: 'early' } });
    expect(updated.nextRunAt).toMatch(/T06:30:00\.000Z$/);

    const runs = await run(['schedules', 'runs', created.id]);
    expect(runs).toMatchObject({ code: 0, stdout: 'No runs.\n' });

    expect(await run(['schedules', 'delete', created.id])).toMatchObject({ code: 0, stdout: `Deleted schedule ${created.id}.\n` });
    const gone = await run(['schedules', 'get', created.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^switchboard: Not found: /);
  });

  it('creates a paused schedule from --data and refuses a bad policy before calling the API', async () => {
    const agent = await newAgent();
    const body = JSON.stringify({ name: `cli data ${token()}`, agentId: agent, cron: '*/5 * * * *' });
    const created = json<Schedule>(await run(['schedules', 'create', '--data', '-', '--paused', '--json'], body));
    expect(created).toMatchObject({ agentId: agent, cron: '*/5 * * * *', timezone: 'UTC', status: 'paused', nextRunAt: null });
    const bad = await run(['schedules', 'create', '--data', body, '--missed-run-policy', 'always']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--missed-run-policy <policy>' argument 'always' is invalid");
  });
});

describe('switchboard triggers', () => {
  it('creates a token trigger, invokes it with its secret (a run is queued), rotates the secret', async () => {
    const agent = await newAgent();
    const name = `cli trigger ${token()}`;
    const created = json<Trigger>(
      await run(['triggers', 'create', '--name', name, '--agent', agent, '--auth', 'token', '--map', 'question=/message/text', '--map', 'who=/user', '--json']),
    );
    expect(created).toMatchObject({
      name,
      agentId: agent,
      authentication: 'token',
      status: 'active',
      inputMapping: { question: '/message/text', who: '/user' },
    });
    expect(created.secret).toMatch(/^sbt_/);
    const secret = created.secret!;

    const listed = await run(['triggers', 'list', '--agent', agent]);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +NAME +AGENT +AUTH +STATUS +CREATED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${created.id} +${name} +${agent} +token +active `, 'm'));
    const shown = await run(['triggers', 'get', created.id]);
    expect(shown.stdout).toMatch(new RegExp(`^url: +/api/v1/hooks/${created.id}$`, 'm'));
    expect(shown.stdout).not.toContain(secret);

    // The invocation needs no API key: only the trigger's secret.
    const invoked = await cli(['triggers', 'invoke', created.id, '--secret', secret, '--data', '{"message": {"text": "ping"}, "user": "ada"}', '--json'], {
      env: { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl') },
    });
    const invocation = json<Invocation>(invoked);
    expect(invocation).toMatchObject({ object: 'trigger_invocation', triggerId: created.id, duplicate: false });
    const started = json<Run>(await run(['runs', 'get', invocation.runId, '--json']));
    expect(started).toMatchObject({
      id: invocation.runId,
      agentId: agent,
      input: { question: 'ping', who: 'ada' },
      triggeredBy: { type: 'trigger', id: created.id },
    });

    // Human output: the invocation, and where to follow the run.
    const human = await run(['triggers', 'invoke', created.id, '--secret', secret, '--data', '{"message": {"text": "again"}, "user": "bob"}']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^runId: +run_\w+$/m);
    expect(human.stderr).toMatch(/^Run run_\w+ queued: switchboard runs follow run_\w+\n$/);

    // A payload without a mapped field is a validation error naming the pointer.
    const missing = await run(['triggers', 'invoke', created.id, '--secret', secret, '--data', '{"user": "ada"}']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^switchboard: Validation error: /);
    expect(missing.stderr).toContain('/message/text');

    const rotated = await run(['triggers', 'rotate-secret', created.id]);
    expect(rotated.code).toBe(0);
    const newSecret = /^secret: +(sbt_\S+)$/m.exec(rotated.stdout)?.[1];
    expect(newSecret).toBeDefined();
    expect(newSecret).not.toBe(secret);
    expect(rotated.stderr).toContain('never shown again');

    const old = await run(['triggers', 'invoke', created.id, '--secret', secret, '--data', '{"message": {"text": "x"}, "user": "x"}']);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^switchboard: Unauthorized: /);
    expect(
      json<Invocation>(await run(['triggers', 'invoke', created.id, '--secret', newSecret!, '--data', '{"message": {"text": "x"}, "user": "x"}', '--json']))
        .duplicate,
    ).toBe(false);

    // Paused triggers refuse calls; updating changes the mapping as a merge patch.
    expect(json<Trigger>(await run(['triggers', 'pause', created.id, '--json'])).status).toBe('paused');
    const refused = await run(['triggers', 'invoke', created.id, '--secret', newSecret!, '--data', '{"message": {"text": "x"}, "user": "x"}']);
    expect(refused.code).toBe(1);
    expect(json<Trigger>(await run(['triggers', 'resume', created.id, '--json'])).status).toBe('active');
    const updated = json<Trigger>(
      await run(['triggers', 'update', created.id, '--name', `${name} v2`, '--unmap', 'who', '--map', 'text=/message/text', '--json']),
    );
    expect(updated).toMatchObject({ name: `${name} v2`, inputMapping: { question: '/message/text', text: '/message/text' } });
    expect(json<Trigger>(await run(['triggers', 'update', created.id, '--whole-payload', '--json'])).inputMapping).toBeNull();

    expect(await run(['triggers', 'delete', created.id])).toMatchObject({ code: 0, stdout: `Deleted trigger ${created.id}.\n` });
  });

  it('signs calls with a whsec_ secret; a repeated --webhook-id starts no second run', async () => {
    const agent = await newAgent();
    const created = await run(['triggers', 'create', '--name', `cli signed ${token()}`, '--agent', agent]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^authentication: +signature$/m);
    expect(created.stderr).toBe('Keep the secret now: it is never shown again.\n');
    const id = /^id: +(trg_\w+)$/m.exec(created.stdout)![1]!;
    const secret = /^secret: +(whsec_\S+)$/m.exec(created.stdout)![1]!;
    const webhookId = `msg_${token()}`;
    const first = json<Invocation>(await run(['triggers', 'invoke', id, '--secret', secret, '--data', '{"n": 1}', '--webhook-id', webhookId, '--json']));
    const again = json<Invocation>(await run(['triggers', 'invoke', id, '--secret', secret, '--data', '{"n": 1}', '--webhook-id', webhookId, '--json']));
    expect(again).toEqual({ ...first, duplicate: true });
    expect(json<Run>(await run(['runs', 'get', first.runId, '--json'])).input).toEqual({ n: 1 });

    const wrong = await run(['triggers', 'invoke', id, '--secret', 'hunter2']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--secret must be the whsec_... secret or the sbt_... token');
  });
});

type Delivery = { headers: IncomingHttpHeaders; body: string };

describe('switchboard webhooks', () => {
  let receiver: Server;
  let url: string;
  const deliveries: Delivery[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  });
  afterAll(() => new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve())));

  it('delivers a signed agent.created, lists the message and its attempts, redelivers it, and pings', async () => {
    const endpoint = json<Endpoint>(await run(['webhooks', 'create', '--url', url, '--event', 'agent.*', '--description', 'CLI test', '--json']));
    expect(endpoint).toMatchObject({ url, eventTypes: ['agent.*'], enabled: true, description: 'CLI test' });
    expect(endpoint.secret).toMatch(/^whsec_/);
    const wh = new Webhook(endpoint.secret!);

    const listed = await run(['webhooks', 'list', '--enabled']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +URL +EVENTS +ENABLED +CREATED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${endpoint.id} +${url} +agent\\.\\* +yes +\\d{4}-`, 'm'));

    const agentName = `cli webhooked ${token()}`;
    const agent = await newAgent(agentName);
    const created = (d: Delivery) => d.body.includes(agent) && d.body.includes('"agent.created"');
    await until(() => deliveries.some(created), 'the agent.created delivery');
    const delivery = deliveries.find(created)!;
    const event = wh.verify(delivery.body, delivery.headers as Record<string, string>) as { type: string; data: { id: string; name: string } };
    expect(event).toMatchObject({ type: 'agent.created', data: { id: agent, name: agentName } });
    const webhookId = delivery.headers['webhook-id'] as string;

    // The message succeeded; it is the one whose id was sent as webhook-id.
    let messages: Page<Message> = { data: [], pagination: { total: 0 } };
    await until(async () => {
      messages = json<Page<Message>>(await run(['webhooks', 'messages', endpoint.id, '--status', 'succeeded', '--event-type', 'agent.created', '--json']));
      return messages.data.length > 0;
    }, 'the message to be marked succeeded');
    expect(messages.data).toHaveLength(1);
    const message = messages.data[0]!;
    expect(message).toMatchObject({
      id: webhookId,
      endpointId: endpoint.id,
      eventType: 'agent.created',
      status: 'succeeded',
      attempts: 1,
      lastStatusCode: 204,
    });
    expect(message.payload).toMatchObject({ type: 'agent.created', data: { id: agent } });
    const table = await run(['webhooks', 'messages', endpoint.id]);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID +EVENT +STATUS +ATTEMPTS +LAST STATUS +NEXT ATTEMPT$/);
    expect(table.stdout).toMatch(new RegExp(`^${message.id} +agent\\.created +succeeded +1 +204 +-$`, 'm'));

    const attempts = json<Page<Attempt>>(await run(['webhooks', 'attempts', message.id, '--json']));
    expect(attempts.data).toHaveLength(1);
    expect(attempts.data[0]).toMatchObject({ attempt: 1, statusCode: 204, error: null, url });
    const attemptTable = await run(['webhooks', 'attempts', message.id]);
    expect(attemptTable.stdout.split('\n')[0]).toMatch(/^ATTEMPT +STATUS +DURATION +ERROR +AT$/);
    expect(attemptTable.stdout).toMatch(/^1 +204 +\d+ ms +- +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/m);

    // Redelivery: the same message (same webhook-id) again, signed afresh.
    const before = deliveries.filter((d) => d.headers['webhook-id'] === webhookId).length;
    const redelivered = json<Message>(await run(['webhooks', 'redeliver', message.id, '--json']));
    expect(redelivered).toMatchObject({ id: message.id, status: 'pending' });
    await until(() => deliveries.filter((d) => d.headers['webhook-id'] === webhookId).length > before, 'the redelivery');
    const second = deliveries.filter((d) => d.headers['webhook-id'] === webhookId).at(-1)!;
    expect(wh.verify(second.body, second.headers as Record<string, string>)).toMatchObject({ type: 'agent.created', data: { id: agent } });
    await until(
      async () => json<Page<Attempt>>(await run(['webhooks', 'attempts', message.id, '--json'])).data.length === 2,
      'the second attempt to be recorded',
    );

    // A ping reaches the endpoint whatever its event filter.
    const ping = json<Message>(await run(['webhooks', 'test', endpoint.id, '--json']));
    expect(ping).toMatchObject({ endpointId: endpoint.id, eventType: 'webhook_endpoint.ping' });
    await until(() => deliveries.some((d) => d.headers['webhook-id'] === ping.id), 'the ping');
    const pinged = deliveries.find((d) => d.headers['webhook-id'] === ping.id)!;
    expect(wh.verify(pinged.body, pinged.headers as Record<string, string>)).toMatchObject({ type: 'webhook_endpoint.ping' });
  });

  it('gets, updates, disables, enables, rotates the secret of and deletes an endpoint', async () => {
    const created = await run(['webhooks', 'create', '--url', url, '--event', 'run.succeeded,run.failed', '--disabled']);
    expect(created.code).toBe(0);
    expect(created.stderr).toBe('Keep the secret now: it is never shown again.\n');
    const id = /^id: +(whep_\w+)$/m.exec(created.stdout)![1]!;
    const secret = /^secret: +(whsec_\S+)$/m.exec(created.stdout)![1]!;
    expect(created.stdout).toMatch(/^enabled: +false$/m);

    const shown = await run(['webhooks', 'get', id]);
    expect(shown.stdout).toMatch(/^eventTypes: +run\.succeeded, run\.failed$/m);
    expect(shown.stdout).toMatch(/^disabledReason: +manual$/m);
    expect(shown.stdout).not.toContain(secret);
    expect(json<Endpoint[]>(await run(['webhooks', 'list', '--disabled', '--all', '--json'])).map((e) => e.id)).toContain(id);

    const enabled = json<Endpoint>(await run(['webhooks', 'update', id, '--enable', '--event', 'run.*', '--description', 'runs', '--json']));
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null, eventTypes: ['run.*'], description: 'runs' });
    const cleared = json<Endpoint>(await run(['webhooks', 'update', id, '--event', '', '--description', '', '--json']));
    expect(cleared).toMatchObject({ eventTypes: [], description: null });
    expect((await run(['webhooks', 'list', '--enabled'])).stdout).toMatch(new RegExp(`^${id} +${url} +all +yes `, 'm'));
    expect(json<Endpoint>(await run(['webhooks', 'update', id, '--disable', '--json']))).toMatchObject({ enabled: false, disabledReason: 'manual' });
    const both = await run(['webhooks', 'update', id, '--enable', '--disable']);
    expect(both.code).toBe(2);

    const rotated = json<Endpoint & { previousSecretExpiresAt: string | null }>(
      await run(['webhooks', 'rotate-secret', id, '--grace-period', '3600', '--json']),
    );
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    expect(rotated.previousSecretExpiresAt).not.toBeNull();

    expect(await run(['webhooks', 'delete', id])).toMatchObject({ code: 0, stdout: `Deleted webhook endpoint ${id}.\n` });
    expect((await run(['webhooks', 'get', id])).code).toBe(1);
  });
});

describe('help of the automation commands', () => {
  it('has an Examples section on every new command', { timeout: 60_000 }, async () => {
    const commands = [
      ['schedules'],
      ...['list', 'create', 'get', 'update', 'delete', 'pause', 'resume', 'runs'].map((c) => ['schedules', c]),
      ['triggers'],
      ...['list', 'create', 'get', 'update', 'delete', 'pause', 'resume', 'rotate-secret', 'invoke'].map((c) => ['triggers', c]),
      ['webhooks'],
      ...['list', 'create', 'get', 'update', 'delete', 'rotate-secret', 'test', 'messages', 'attempts', 'redeliver'].map((c) => ['webhooks', c]),
    ];
    for (let i = 0; i < commands.length; i += 6) {
      await Promise.all(
        commands.slice(i, i + 6).map(async (command) => {
          const result = await cli([...command, '--help'], { env: h.env });
          const name = command.join(' ');
          expect(result.code, name).toBe(0);
          expect(result.stdout, name).toMatch(new RegExp(`^Usage: switchboard ${name} `));
          expect(result.stdout, name).toContain(`\nExamples:\n  $ switchboard ${command[0]} `);
        }),
      );
    }
  });
});
