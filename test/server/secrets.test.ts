import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectDatabase } from '../support/inspect-database.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import {
  appendEvents,
  call,
  claim,
  claimReq,
  complete,
  expectProblem,
  getRun,
  label,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  SseStream,
  type Conn,
} from './run-helpers.js';
import { newSecret, rowsHolding, secretName } from './secrets-helpers.js';

/**
 * Secrets on a server of the file's own, so its database and its log can be searched for the
 * values afterwards: metadata only through the API, values only in the claim of the lease holder,
 * and redacted from whatever the run writes back.
 */
let server: ServerProcess;
let db: Knex;
let app: Conn;
/** Every value the file sets: none may be found in a response, the database or the log. */
const values: string[] = [];
const valueOf = (stem: string) => {
  const value = `${stem}-${randomBytes(12).toString('base64url')}`;
  values.push(value);
  return value;
};

beforeAll(async () => {
  server = await startServerProcess({ LOG_LEVEL: 'debug', WEBHOOK_ALLOWED_ADDRESSES: '127.0.0.1' });
  db = inspectDatabase(server.database);
  app = { baseUrl: server.url, key: server.adminKey };
  expect((await call(app, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['secret.*'] })).status).toBe(201);
});
afterAll(async () => {
  await db?.destroy();
  await server?.stop();
});

describe('secrets', () => {
  it('are written with a value and read as metadata only, in answers, webhooks, the audit log and idempotency records', async () => {
    const name = secretName('STRIPE');
    const value = valueOf('sk_live');
    const idempotencyKey = randomUUID();
    const created = await call(app, 'POST', '/api/v1/secrets', { name, value, description: 'payments' }, { 'Idempotency-Key': idempotencyKey });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ object: 'secret', name, description: 'payments', currentVersion: 1, lastAccessedAt: null });
    expect(created.body.id).toMatch(/^sec_/);
    expect(created.headers.get('location')).toBe(`/api/v1/secrets/${created.body.id}`);
    const replay = await call(app, 'POST', '/api/v1/secrets', { name, value, description: 'payments' }, { 'Idempotency-Key': idempotencyKey });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.id).toBe(created.body.id);
    expectProblem(await call(app, 'POST', '/api/v1/secrets', { name, value: 'another value' }), 409, 'conflict', name);
    expectProblem(await call(app, 'POST', '/api/v1/secrets', { name: 'lower_case', value }), 422, 'validation-error');

    const id = created.body.id as string;
    const next = valueOf('sk_live_2');
    const version = await call(app, 'POST', `/api/v1/secrets/${id}/versions`, { value: next });
    expect(version.status).toBe(201);
    expect(version.body).toEqual({ object: 'secret_version', secretId: id, version: 2, createdAt: expect.any(String) });
    const got = await call(app, 'GET', `/api/v1/secrets/${id}`);
    expect(got.body).toMatchObject({ currentVersion: 2 });
    const etag = got.headers.get('etag')!;
    const patched = await call(app, 'PATCH', `/api/v1/secrets/${id}`, { description: 'refunds' }, { 'If-Match': etag });
    expect(patched.body).toMatchObject({ description: 'refunds', currentVersion: 2 });
    expectProblem(await call(app, 'PATCH', `/api/v1/secrets/${id}`, { description: 'x' }, { 'If-Match': etag }), 412, 'precondition-failed');
    expectProblem(await call(app, 'PATCH', `/api/v1/secrets/${id}`, { name: 'OTHER' }), 422, 'validation-error');

    const versions = await call(app, 'GET', `/api/v1/secrets/${id}/versions`);
    expect(versions.body.data.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const listed = await call(app, 'GET', `/api/v1/secrets?name=${name}`);
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([id]);

    const reads = [created, replay, version, got, patched, versions, listed];
    for (const r of reads) for (const v of [value, next]) expect(JSON.stringify(r.body)).not.toContain(v);

    const hooks = await db('webhook_messages').select<{ event_type: string; payload: string }[]>('event_type', 'payload');
    expect(hooks.filter((h) => h.payload.includes(id)).map((h) => h.event_type)).toEqual(expect.arrayContaining(['secret.created', 'secret.updated']));
    const audit = (await db('audit_events').whereIn('action', ['secret.create', 'secret.create_version', 'secret.update']).select('action')) as unknown[];
    expect(audit.length).toBeGreaterThanOrEqual(3);
    for (const v of [value, next]) expect(await rowsHolding(db, v)).toEqual([]);

    const read = await call(app, 'POST', '/api/v1/api-keys', { name: 'reader', scopes: ['read'] });
    const reader: Conn = { baseUrl: server.url, key: read.body.secret };
    expect((await call(reader, 'GET', `/api/v1/secrets/${id}`)).status).toBe(200);
    expectProblem(await call(reader, 'POST', `/api/v1/secrets/${id}/versions`, { value: 'nope, no scope' }), 403, 'forbidden');

    expect((await call(app, 'DELETE', `/api/v1/secrets/${id}`)).status).toBe(204);
    expectProblem(await call(app, 'GET', `/api/v1/secrets/${id}`), 404, 'not-found');
    const deleted = await db('webhook_messages').where({ event_type: 'secret.deleted' }).select<{ payload: string }[]>('payload');
    expect(deleted.some((h) => h.payload.includes(id))).toBe(true);
  });

  it('go in the claim to the runner that holds the lease, only those its agent version references, each delivery logged', async () => {
    const tag = label();
    const [a, b, other] = [secretName('CRM_TOKEN'), secretName('DB_PASSWORD'), secretName('UNUSED')];
    const secretA = await newSecret(app, a, valueOf('crm'));
    await newSecret(app, b, valueOf('db'));
    await newSecret(app, other, valueOf('unused'));
    const agent = await newAgent(app, { labels: [tag], secrets: [a, b] });
    expect(agent.secrets).toEqual([a, b]);
    const plain = await newAgent(app, { labels: [tag] });
    expect(plain.secrets).toEqual([]);

    const holder = await newRunner(app, [tag]);
    const bystander = await newRunner(app, [tag]);
    const run = await newRun(app, agent.id);
    const claimed = await claim(runnerConn(server.url, holder), holder.id);
    expect(claimed.run.id).toBe(run.id);
    expect(claimed.agent.secrets).toEqual([a, b]);
    expect(Object.keys(claimed.secrets).sort()).toEqual([a, b].sort());
    expect(claimed.secrets[a]).toBe(values.at(-3));
    // The other runner gets no run, so no value: the claim is the only way to one.
    expect((await claimReq(runnerConn(server.url, bystander), bystander.id)).status).toBe(204);
    expectProblem(await call(runnerConn(server.url, bystander), 'GET', `/api/v1/secrets/${secretA.id}`), 401, 'unauthorized');
    expectProblem(await call({ baseUrl: server.url, key: claimed.runToken.token }, 'GET', `/api/v1/secrets/${secretA.id}`), 401, 'unauthorized');

    const accesses = await call(app, 'GET', `/api/v1/secrets/${secretA.id}/accesses`);
    expect(accesses.body.data).toEqual([
      {
        id: expect.stringMatching(/^sacc_/),
        object: 'secret_access',
        secretId: secretA.id,
        version: 1,
        runId: run.id,
        runnerId: holder.id,
        purpose: 'claim',
        createdAt: expect.any(String),
      },
    ]);
    expect((await call(app, 'GET', `/api/v1/secrets/${secretA.id}`)).body.lastAccessedAt).toBe(accesses.body.data[0].createdAt);

    await newRun(app, plain.id);
    expect((await claim(runnerConn(server.url, bystander), bystander.id)).secrets).toEqual({});
  });

  it('that an agent names but the application does not have fail the run at its claim, saying which', async () => {
    const tag = label();
    const kept = secretName('KEPT');
    const gone = secretName('GONE');
    await newSecret(app, kept, valueOf('kept'));
    const doomed = await newSecret(app, gone, valueOf('gone'));
    const agent = await newAgent(app, { labels: [tag], secrets: [kept, gone] });
    expect((await call(app, 'DELETE', `/api/v1/secrets/${doomed.id}`)).status).toBe(204);
    const run = await newRun(app, agent.id);
    const runner = await newRunner(app, [tag]);
    expect((await claimReq(runnerConn(server.url, runner), runner.id)).status).toBe(204);
    const failed = await getRun(app, run.id);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'secret_missing' } });
    expect(failed.error!.message).toContain(gone);
    expect(failed.error!.message).not.toContain(kept);
  });

  it('fill http tools headers only when the agent references them', async () => {
    const name = secretName('TOOL_KEY');
    const tool = { name: 'lookup', url: 'https://tools.invalid/lookup', headers: { Authorization: `Bearer {{secrets.${name}}}` } };
    expectProblem(await call(app, 'POST', '/api/v1/agents', { name: 'tools', model: 'gpt-4.1', tools: [tool] }), 422, 'validation-error', name);
    expectProblem(
      await call(app, 'POST', '/api/v1/agents', { name: 'tools', model: 'gpt-4.1', tools: [{ name: 'list_tasks', kind: 'builtin', headers: { A: 'b' } }] }),
      422,
      'validation-error',
      'headers',
    );
    expect((await call(app, 'POST', '/api/v1/agents', { name: 'tools', model: 'gpt-4.1', secrets: [name], tools: [tool] })).status).toBe(201);
  });
});

describe('what a run writes back', () => {
  it('holds [secret:NAME] where the value was, in its events, stream, output and messages, and nowhere the value', async () => {
    const tag = label();
    const name = secretName('ECHOED');
    const value = valueOf('p@ss w/rd&"quoted"');
    await newSecret(app, name, value);
    const agent = await newAgent(app, { labels: [tag], secrets: [name] });
    const run = await newRun(app, agent.id, { input: { say: 'the secret' } });
    const runner = await newRunner(app, [tag]);
    const conn = runnerConn(server.url, runner);
    const got = await claim(conn, runner.id);
    const echoed = got.secrets[name]!;
    expect(echoed).toBe(value);
    const mark = `[secret:${name}]`;
    const stream = await SseStream.open(`${server.url}/api/v1/realtime/runs/${run.id}?after=0`, { Authorization: `Bearer ${app.key}` });

    const forms = {
      plain: `the key is ${echoed}.`,
      json: JSON.stringify({ key: echoed }),
      url: `https://example.invalid/?key=${encodeURIComponent(echoed)}`,
      base64: `Basic ${Buffer.from(echoed).toString('base64')}`,
    };
    const appended = await appendEvents(conn, got.lease.id, got.lease.fencingToken, [
      { runnerSeq: 1, type: 'log', data: { level: 'info', message: forms.plain, [echoed]: 'as a key' } },
      { runnerSeq: 2, type: 'output.delta', data: { delta: forms } },
    ]);
    expect(appended.status).toBe(200);
    // With its run token the run comments on a task: the comment is stored redacted too.
    const task = await call(app, 'POST', '/api/v1/tasks', { title: 'Rotate the key', status: 'todo' });
    const comment = await call({ baseUrl: server.url, key: got.runToken.token }, 'POST', `/api/v1/tasks/${task.body.id}/comments`, {
      body: `Used ${echoed} to check.`,
    });
    expect(comment.status, JSON.stringify(comment.body)).toBe(201);
    expect(comment.body.body).toBe(`Used ${mark} to check.`);
    const done = await complete(conn, got.lease.id, { fencingToken: got.lease.fencingToken, status: 'succeeded', output: { echo: echoed, forms } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);

    const output = (await getRun(app, run.id)).output as { echo: string; forms: Record<string, string> };
    expect(output).toEqual({
      echo: mark,
      forms: { plain: `the key is ${mark}.`, json: JSON.stringify({ key: mark }), url: `https://example.invalid/?key=${mark}`, base64: `Basic ${mark}` },
    });
    const events = await runEvents(app, run.id);
    const log = events.find((e) => e.type === 'log')!;
    expect(log.data).toMatchObject({ message: `the key is ${mark}.`, [mark]: 'as a key' });
    await stream.until(
      (s) => s.messages.some((m) => m.event === 'run.succeeded' || (m.json.type === 'status' && m.json.data.status === 'succeeded')),
      'the end',
    );
    stream.close();
    const streamed = stream.messages.map((m) => m.data).join('\n');
    expect(streamed).toContain(mark);
    for (const text of [JSON.stringify(output), JSON.stringify(events), streamed]) expect(text).not.toContain(echoed);
  });

  it('leaves no value anywhere in the database or the log', async () => {
    for (const value of values) {
      expect(await rowsHolding(db, value), value).toEqual([]);
      expect(server.output()).not.toContain(value);
    }
  });
});
