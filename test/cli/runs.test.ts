import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { cli, expectNoSecrets, json, keepSecret, startCli, tempHome } from './cli-helpers.js';

type Run = { id: string; status: string; output: Record<string, unknown> | null; error: { code: string; message: string } | null };

let key: string;
let label: string;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
let runner: ReturnType<typeof startCli>;

const run = (args: string[], input?: string) => cli(args, { env, input });
const newAgent = async (model: string, labels = [label]) =>
  json<{ id: string }>(await run(['agents', 'create', '--name', `cli runs ${token()}`, '--model', model, '--label', labels.join(','), '--json'])).id;
const TIMESTAMPED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z {2}/;

beforeAll(async () => {
  key = await freshAdmin();
  keepSecret(key);
  label = `cli-${token()}`;
  h = tempHome();
  // This file logs in once: every command below takes the key and URL from the profile.
  env = h.env;
  const login = await cli(['login', '--base-url', inject('serverUrl'), '--api-key', key], { env });
  expect(login.code).toBe(0);
  // The built-in runner, as its own process, only for this file's label.
  runner = startCli(['--base-url', inject('serverUrl'), 'runner', '--api-key', key, '--labels', label, '--name', `cli-${label}`], { ...h.env });
  const deadline = Date.now() + 15_000;
  while (!runner.output().includes('is waiting for runs') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(runner.output()).toContain('is waiting for runs');
});

afterAll(async () => {
  if (runner) expect(await runner.stop()).toBe(0);
  h?.cleanup();
});

describe('switchboard runs', () => {
  it('runs create --follow prints the events as they come, then the output, and exits 0 when the run succeeded', async () => {
    const agent = await newAgent('echo');
    const result = await run(['runs', 'create', '--agent', agent, '--input', '{"question": "ping"}', '--follow']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    const events = lines.filter((l) => TIMESTAMPED.test(l));
    expect(events.map((l) => l.replace(TIMESTAMPED, '').split(/ +/)[0])).toEqual(['status', 'status', 'log', 'output.delta', 'log', 'status']);
    expect(events[0]).toMatch(/status +queued$/);
    expect(events[1]).toMatch(/status +running$/);
    expect(events[2]).toMatch(/log +info +echo: received the input/);
    expect(events[5]).toMatch(/status +succeeded$/);
    const outcome = lines.slice(events.length).join('\n');
    expect(outcome).toMatch(/^Run run_\w+ succeeded\. Output:\n/);
    expect(JSON.parse(outcome.slice(outcome.indexOf('\n') + 1))).toEqual({ question: 'ping' });
    // No spinner without a terminal: stderr has the one note only.
    expect(result.stderr).toMatch(/^Run run_\w+ created \(queued\); following it .+\n$/);
  });

  it('exits 1 when the run fails, with its error (an http agent on loopback, which this runner does not call)', async () => {
    const created = await run([
      'agents',
      'create',
      '--name',
      `cli runs ${token()}`,
      '--model',
      'remote',
      '--runtime',
      'http',
      '--url',
      'http://127.0.0.1:9/agent',
      '--label',
      label,
      '--json',
    ]);
    const agent = json<{ id: string }>(created).id;
    const result = await run(['runs', 'create', '--agent', agent, '--follow']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/status +failed {2}http_error: /);
    expect(result.stdout).toMatch(/^Run run_\w+ failed: http_error: .*127\.0\.0\.1.* is not allowed/m);
  });

  it('with --json prints only the final run, as one document', async () => {
    const agent = await newAgent('echo');
    const result = await run(['runs', 'create', '--agent', agent, '--input', '-', '--follow', '--json'], '{"n": 1}');
    const finished = json<Run>(result);
    expect(finished).toMatchObject({ status: 'succeeded', output: { n: 1 } });
  });

  it('runs follow replays a finished run; get, list and events show it', async () => {
    const agent = await newAgent('echo');
    const created = json<Run>(await run(['runs', 'create', '--agent', agent, '--input', '{"x": true}', '--json']));
    expect(created.status).toBe('queued');
    const followed = await run(['runs', 'follow', created.id]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain(`Run ${created.id} succeeded. Output:`);
    // Following again after the end replays the history and ends at once.
    const again = await run(['runs', 'follow', created.id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(followed.stdout);

    expect((await run(['runs', 'get', created.id])).stdout).toMatch(/^status: +succeeded$/m);
    const listed = await run(['runs', 'list', '--agent', agent]);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +AGENT +STATUS +ATTEMPT +CREATED +FINISHED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${created.id} +${agent} +succeeded +1 `, 'm'));
    const events = json<{ data: { seq: number; type: string }[]; hasMore: boolean }>(await run(['runs', 'events', created.id, '--json']));
    expect(events.data.map((e) => e.type)).toEqual(['status', 'status', 'log', 'output.delta', 'log', 'status']);
    const all = json<{ seq: number }[]>(await run(['runs', 'events', created.id, '--all', '--limit', '2', '--json']));
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('cancels a queued run; following it then exits 1', async () => {
    const agent = await newAgent('echo', [`${label}-nobody`]);
    const created = json<Run>(await run(['runs', 'create', '--agent', agent, '--json']));
    const cancelled = json<Run>(await run(['runs', 'cancel', created.id, '--json']));
    expect(cancelled.status).toBe('cancelled');
    const followed = await run(['runs', 'follow', created.id]);
    expect(followed.code).toBe(1);
    expect(followed.stdout).toMatch(/^Run run_\w+ cancelled: cancelled: /m);
  });

  it('stops following on SIGINT with exit code 130, without cancelling the run', async () => {
    const agent = await newAgent('echo', [`${label}-nobody`]);
    const created = json<Run>(await run(['runs', 'create', '--agent', agent, '--json']));
    const follower = startCli(['runs', 'follow', created.id], env);
    const deadline = Date.now() + 10_000;
    while (!follower.output().includes('queued') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise<number | null>((r) => follower.child.once('exit', r));
    follower.child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(follower.output()).toContain(`switchboard runs follow ${created.id}`);
    expectNoSecrets(follower.output());
    expect(json<Run>(await run(['runs', 'get', created.id, '--json'])).status).toBe('queued');
    await run(['runs', 'cancel', created.id]);
  });

  it('runs create --follow says once why a queued run cannot start (no online runner has its label), with the command that would', async () => {
    const nobody = `${label}-nobody`;
    const agent = await newAgent('echo', [nobody]);
    const follower = startCli(['runs', 'create', '--agent', agent, '--follow'], env);
    const deadline = Date.now() + 10_000;
    while (!follower.output().includes('npx switchboard runner') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const runId = /Run (run_\w+) created/.exec(follower.output())?.[1];
    expect(runId).toBeDefined();
    const exited = new Promise<number | null>((r) => follower.child.once('exit', r));
    // Cancelling ends the follow: the hint was printed while it was still queued.
    await run(['runs', 'cancel', runId!]);
    expect(await exited).toBe(1);
    const output = follower.output();
    expect(output).toContain(`Run ${runId} is queued, and no runner can take it: No online runner has the label ${nobody}, which the agent requires.`);
    expect(output).toContain(`To run it, start a runner with that label: npx switchboard runner --labels ${nobody}`);
    expect(output.split('no runner can take it').length).toBe(2);
  });

  it('needs --agent (a usage error)', async () => {
    const result = await run(['runs', 'create']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--agent');
  });
});
