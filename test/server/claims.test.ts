import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from './helpers.js';
import {
  BEFORE_APPROVALS,
  call,
  cancelRun,
  claim,
  claimReq,
  complete,
  getRun,
  isolatedApp,
  label,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  type Claim,
  type Conn,
  type Run,
} from './run-helpers.js';

let app: Conn;

beforeAll(async () => {
  app = { baseUrl: inject('auditUrl'), key: (await isolatedApp('claims')).key };
});

const rc = (runner: { token: string }) => runnerConn(inject('auditUrl'), runner);
/** Long polls go straight to the server, not through the proxy. */
const direct = (runner: { token: string }) => runnerConn(inject('serverUrl'), runner);

const done = (c: Claim, runner: { token: string }) => complete(rc(runner), c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', output: {} });

describe('which runs a runner may claim', () => {
  it('an agent with labels is claimed only by a runner that has all of them', async () => {
    const gpu = label();
    const eu = label();
    const agent = await newAgent(app, { labels: [gpu, eu] });
    const none = await newRunner(app, []);
    const onlyGpu = await newRunner(app, [gpu]);
    const onlyEu = await newRunner(app, [eu, 'cpu']);
    const both = await newRunner(app, ['cpu', eu, gpu]);
    const run = await newRun(app, agent.id);
    for (const r of [none, onlyGpu, onlyEu]) expect((await claimReq(rc(r), r.id)).status).toBe(204);
    expect((await getRun(app, run.id)).status).toBe('queued');
    const c = await claim(rc(both), both.id);
    expect(c.run.id).toBe(run.id);
    expect(c.lease.runnerId).toBe(both.id);
    expect((await done(c, both)).status).toBe(200);
  });

  it('an agent with labels [gpu] is claimed by a runner whose labels include gpu, not by one without', async () => {
    const gpu = label();
    const agent = await newAgent(app, { labels: [gpu] });
    const cpu = await newRunner(app, [label()]);
    const gpuRunner = await newRunner(app, [label(), gpu]);
    const run = await newRun(app, agent.id);
    expect((await claimReq(rc(cpu), cpu.id)).status).toBe(204);
    const c = await claim(rc(gpuRunner), gpuRunner.id);
    expect(c.run.id).toBe(run.id);
    expect(c.agent).toMatchObject({ id: agent.id, version: 1, model: 'gpt-4.1', runtime: 'runner' });
    expect((await done(c, gpuRunner)).status).toBe(200);
  });

  it('an agent without labels is claimed by any runner, with or without labels', async () => {
    const agent = await newAgent(app, { labels: [] });
    const runs = [await newRun(app, agent.id), await newRun(app, agent.id)];
    const bare = await newRunner(app, []);
    const labelled = await newRunner(app, [label()]);
    const c1 = await claim(rc(bare), bare.id);
    const c2 = await claim(rc(labelled), labelled.id);
    expect([c1.run.id, c2.run.id]).toEqual(runs.map((r) => r.id));
    expect((await done(c1, bare)).status).toBe(200);
    expect((await done(c2, labelled)).status).toBe(200);
  });

  it('the claim carries the run, the agent version it records and the lease', async () => {
    const l = label();
    const agent = await newAgent(app, {
      labels: [l],
      instructions: 'v1',
      tools: [{ name: 'lookup', description: 'Look up', inputSchema: { type: 'object' }, url: 'https://tools.example.com/lookup' }],
      config: { t: 1 },
    });
    const run = await newRun(app, agent.id, { input: { q: 1 } });
    // The agent changes after the run was created: the claim still hands out version 1.
    expect((await call(app, 'PATCH', `/api/v1/agents/${agent.id}`, { instructions: 'v2' })).body.version).toBe(2);
    const runner = await newRunner(app, [l]);
    const c = await claim(rc(runner), runner.id);
    expect(c.object).toBe('claim');
    expect(c.run).toMatchObject({ id: run.id, status: 'running', agentVersion: 1, input: { q: 1 }, attempt: 1 });
    expect(c.agent).toMatchObject({ id: agent.id, version: 1, instructions: 'v1', tools: agent.tools, config: { t: 1 }, limits: agent.limits });
    expect(c.lease).toMatchObject({ object: 'lease', runId: run.id, runnerId: runner.id, fencingToken: 1 });
    expect(Date.parse(c.lease.expiresAt)).toBeGreaterThan(Date.parse(c.lease.createdAt));
    expect((await done(c, runner)).status).toBe(200);
  });

  it('runs of an http agent are claimed like any other, with the url the runner calls', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l], runtime: 'http', url: 'https://agents.example.com/run' });
    const run = await newRun(app, agent.id);
    const runner = await newRunner(app, [l]);
    const res = await claimReq(rc(runner), runner.id);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ run: { id: run.id }, agent: { runtime: 'http', url: 'https://agents.example.com/run' } });
    await cancelRun(app, run.id);
  });

  it('a cancelled run is not claimed', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l] });
    const run = await newRun(app, agent.id);
    await cancelRun(app, run.id);
    const runner = await newRunner(app, [l]);
    expect((await claimReq(rc(runner), runner.id)).status).toBe(204);
  });
});

describe('order and waiting', () => {
  it('claims the oldest queued run first', async () => {
    const l = label();
    const agents = [await newAgent(app, { labels: [l] }), await newAgent(app, { labels: [l] })];
    const runs: Run[] = [];
    for (let i = 0; i < 5; i++) runs.push(await newRun(app, agents[i % 2]!.id, { input: { i } }));
    const runner = await newRunner(app, [l]);
    const claimed: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await claim(rc(runner), runner.id);
      claimed.push(c.run.id);
      expect((await done(c, runner)).status).toBe(200);
    }
    const oldestFirst = [...runs].sort((a, b) => (a.queuedAt === b.queuedAt ? (a.id < b.id ? -1 : 1) : a.queuedAt < b.queuedAt ? -1 : 1));
    expect(claimed).toEqual(oldestFirst.map((r) => r.id));
    expect((await claimReq(rc(runner), runner.id)).status).toBe(204);
  });

  it('wait=0 with nothing queued answers 204 with no body', async () => {
    const runner = await newRunner(app, [label()]);
    const res = await claimReq(rc(runner), runner.id, 0);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
  });

  it('a claim waiting (wait=10) returns a run created while it waits', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l] });
    const runner = await newRunner(app, [l]);
    const waiting = claimReq(direct(runner), runner.id, 10);
    // Give the claim time to find nothing and start waiting (this only orders the two requests).
    await sleep(300);
    const run = await newRun(app, agent.id);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.run).toMatchObject({ id: run.id, status: 'running' });
    expect((await done(res.body, runner)).status).toBe(200);
  });

  it('a waiting claim ignores runs it may not take and returns the one it may', async () => {
    const l = label();
    const mine = await newAgent(app, { labels: [l] });
    const notMine = await newAgent(app, { labels: [label()] });
    const runner = await newRunner(app, [l]);
    const waiting = claimReq(direct(runner), runner.id, 10);
    await sleep(300);
    const foreign = await newRun(app, notMine.id);
    await sleep(300);
    const run = await newRun(app, mine.id);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.run.id).toBe(run.id);
    expect((await getRun(app, foreign.id)).status).toBe('queued');
    await cancelRun(app, foreign.id);
    expect((await done(res.body, runner)).status).toBe(200);
  });

  it('maxConcurrentRuns=1 holds back a second run until the first completes', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l], limits: { maxConcurrentRuns: 1 } });
    const first = await newRun(app, agent.id);
    const second = await newRun(app, agent.id);
    const r1 = await newRunner(app, [l]);
    const r2 = await newRunner(app, [l]);
    const c1 = await claim(rc(r1), r1.id);
    expect(c1.run.id).toBe(first.id);
    expect((await claimReq(rc(r2), r2.id)).status).toBe(204);
    expect((await claimReq(rc(r1), r1.id)).status).toBe(204);
    expect((await getRun(app, second.id)).status).toBe('queued');
    // Waiting for a human with the lease kept (a 2026-12-05 runner's waitRun) still counts as running.
    const w = await call(
      rc(r1),
      'POST',
      `/api/v1/leases/${c1.lease.id}/wait`,
      {
        fencingToken: 1,
        requiredAction: { type: 'input', message: 'More?', data: {} },
      },
      BEFORE_APPROVALS,
    );
    expect(w.status).toBe(200);
    expect((await claimReq(rc(r2), r2.id)).status).toBe(204);
    expect((await call(app, 'POST', `/api/v1/runs/${first.id}/resume`, { input: {} }, BEFORE_APPROVALS)).status).toBe(200);
    expect((await done(c1, r1)).status).toBe(200);
    const c2 = await claim(rc(r2), r2.id);
    expect(c2.run.id).toBe(second.id);
    // Another agent is not held back by this one's limit.
    const freeAgent = await newAgent(app, { labels: [l] });
    const free = await newRun(app, freeAgent.id);
    const third = await newRun(app, agent.id);
    const c3 = await claim(rc(r1), r1.id);
    expect(c3.run.id).toBe(free.id);
    expect((await claimReq(rc(r1), r1.id)).status).toBe(204);
    expect((await done(c2, r2)).status).toBe(200);
    expect((await claim(rc(r1), r1.id)).run.id).toBe(third.id);
  });
});

describe('200 queued runs, 4 runners claiming concurrently', () => {
  // Its own server, with budgets large enough for the load (the shared one allows 60 runs a minute per key).
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ RATE_LIMIT_RUN: '100000', RATE_LIMIT_WRITE: '100000', RATE_LIMIT_READ: '100000' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('claims every run exactly once and completes it once', async () => {
    const conn: Conn = { baseUrl: server.url, key: server.adminKey };
    const agent = await newAgent(conn, {});
    const created: Run[] = [];
    for (let i = 0; i < 200; i += 20) {
      created.push(...(await Promise.all(Array.from({ length: 20 }, (_, j) => newRun(conn, agent.id, { input: { n: i + j } })))));
    }
    expect(new Set(created.map((r) => r.id)).size).toBe(200);
    const runners = await Promise.all(Array.from({ length: 4 }, () => newRunner(conn, [])));

    const claims = new Map<string, number>();
    const completions = new Map<string, number>();
    const byRunner = new Map<string, number>();
    const failures: string[] = [];
    await Promise.all(
      runners.map(async (runner) => {
        const c = runnerConn(server.url, runner);
        for (;;) {
          const res = await claimReq(c, runner.id, 0);
          if (res.status === 204) return;
          if (res.status !== 200) {
            failures.push(`claim ${res.status} ${JSON.stringify(res.body)}`);
            return;
          }
          const { run, lease } = res.body;
          claims.set(run.id, (claims.get(run.id) ?? 0) + 1);
          byRunner.set(runner.id, (byRunner.get(runner.id) ?? 0) + 1);
          if (run.attempt !== 1 || lease.fencingToken !== 1) failures.push(`run ${run.id} attempt ${run.attempt} token ${lease.fencingToken}`);
          const fin = await complete(c, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: { by: runner.id } });
          if (fin.status !== 200) failures.push(`complete ${fin.status} ${JSON.stringify(fin.body)}`);
          else completions.set(run.id, (completions.get(run.id) ?? 0) + 1);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(claims.size).toBe(200);
    expect([...claims.keys()].sort()).toEqual(created.map((r) => r.id).sort());
    expect([...claims.values()].every((n) => n === 1)).toBe(true);
    expect([...completions.values()].every((n) => n === 1)).toBe(true);
    expect(completions.size).toBe(200);
    expect([...byRunner.values()].reduce((a, b) => a + b, 0)).toBe(200);

    // What the server says agrees: every run succeeded once, on attempt 1, with three status events.
    const succeeded = await call<{ data: Run[]; pagination: { total: number } }>(conn, 'GET', `/api/v1/runs?agentId=${agent.id}&status=succeeded&pageSize=100`);
    expect(succeeded.body.pagination.total).toBe(200);
    expect((await call(conn, 'GET', `/api/v1/runs?agentId=${agent.id}&status=queued`)).body.pagination.total).toBe(0);
    expect((await call(conn, 'GET', `/api/v1/runs?agentId=${agent.id}&status=running`)).body.pagination.total).toBe(0);
    for (let i = 0; i < 200; i += 25) {
      await Promise.all(
        created.slice(i, i + 25).map(async (r) => {
          const run = await getRun(conn, r.id);
          expect(run).toMatchObject({ status: 'succeeded', attempt: 1 });
          expect(claims.get(r.id)).toBe(1);
          const events = await runEvents(conn, r.id);
          expect(events.map((e) => [e.seq, e.data.previousStatus, e.data.status])).toEqual([
            [1, null, 'queued'],
            [2, 'queued', 'running'],
            [3, 'running', 'succeeded'],
          ]);
          expect(run.output).toEqual({ by: events[1]!.data.runnerId });
        }),
      );
    }
  }, 120_000);
});
