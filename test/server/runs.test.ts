import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createKey, parseRateLimit } from './helpers.js';
import {
  absent,
  appendEvents,
  call,
  cancelRun,
  claim,
  createRunReq,
  EU_ID,
  EVT_ID,
  expectInvalidTransition,
  expectProblem,
  getRun,
  heartbeat,
  isolatedApp,
  ISO_MS,
  label,
  logs,
  newAgent,
  newRun,
  newRunner,
  resumeRun,
  RUN_ID,
  runEvents,
  runnerConn,
  type Conn,
  type Run,
  type RunEvent,
} from './run-helpers.js';

let app: Conn;
let other: Conn;
let appId: string;

beforeAll(async () => {
  const a = await isolatedApp('runs');
  const b = await isolatedApp('runs other');
  app = { baseUrl: inject('auditUrl'), key: a.key };
  other = { baseUrl: inject('auditUrl'), key: b.key };
  appId = a.appId;
});

type RunList = { data: Run[]; pagination: { page: number; pageSize: number; total: number; totalPages: number } };
const list = (query: Record<string, string | number>, conn = app) =>
  call<RunList>(conn, 'GET', `/api/v1/runs?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`);

describe('createRun', () => {
  it("creates a queued run of the agent's current version: 201, Location, ETag, input and metadata echoed", async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const patched = await call(app, 'PATCH', `/api/v1/agents/${agent.id}`, { instructions: 'Version two.' });
    expect(patched.status).toBe(200);
    expect(patched.body.version).toBe(2);

    const input = { ticketId: 'T-1', nested: { a: [1, 2, { b: null }] } };
    const metadata = { source: 'helpdesk', ticket: 'T-1' };
    const res = await createRunReq(app, { agentId: agent.id, input, metadata, ttlSeconds: 300 });
    expect(res.status).toBe(201);
    const run = res.body;
    expect(run).toEqual({
      id: expect.stringMatching(RUN_ID),
      object: 'run',
      agentId: agent.id,
      agentVersion: 2,
      input,
      output: null,
      error: null,
      status: 'queued',
      requiredAction: null,
      waitingFor: null,
      triggeredBy: { type: 'api', id: null },
      endUserId: null,
      threadId: null,
      attempt: 1,
      usage: { inputTokens: 0, outputTokens: 0 },
      costMicros: 0,
      metadata,
      queuedAt: expect.stringMatching(ISO_MS),
      startedAt: null,
      finishedAt: null,
      dispatch: expect.objectContaining({ claimable: false, reason: expect.stringMatching(/^no_/) }),
      expiresAt: expect.stringMatching(ISO_MS),
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: expect.stringMatching(ISO_MS),
    });
    expect(run.queuedAt).toBe(run.createdAt);
    // ttlSeconds -> expiresAt (to the second: the exact millisecond is checked with a fixed clock in leases.test.ts).
    expect(Math.round((Date.parse(run.expiresAt) - Date.parse(run.queuedAt)) / 1000)).toBe(300);
    expect(res.headers.get('location')).toBe(`/api/v1/runs/${run.id}`);
    expect(res.headers.get('etag')).toMatch(/^"[\x21\x23-\x7e]+"$/);

    const fetched = await call<Run>(app, 'GET', res.headers.get('location')!);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(run);
    expect(fetched.headers.get('etag')).toBe(res.headers.get('etag'));
    await cancelRun(app, run.id);
  });

  it('defaults: empty input and metadata, a one-hour TTL', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const run = await newRun(app, agent.id);
    expect(run.input).toEqual({});
    expect(run.metadata).toEqual({});
    expect(run.agentVersion).toBe(1);
    expect(Math.round((Date.parse(run.expiresAt) - Date.parse(run.queuedAt)) / 1000)).toBe(3600);
    await cancelRun(app, run.id);
  });

  it('Switchboard-User: the run is for an eu_ end-user, the same one for the same external id; listRuns filters by it', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const ext1 = `customer-${label()}`;
    const ext2 = `customer-${label()}`;
    const a = await newRun(app, agent.id, {}, { 'Switchboard-User': ext1 });
    const b = await newRun(app, agent.id, {}, { 'Switchboard-User': ext1 });
    const c = await newRun(app, agent.id, {}, { 'Switchboard-User': ext2 });
    const none = await newRun(app, agent.id);
    expect(a.endUserId).toMatch(EU_ID);
    expect(b.endUserId).toBe(a.endUserId);
    expect(c.endUserId).toMatch(EU_ID);
    expect(c.endUserId).not.toBe(a.endUserId);
    expect(none.endUserId).toBeNull();

    const forA = await list({ endUserId: a.endUserId!, pageSize: 100 });
    expect(forA.status).toBe(200);
    expect(forA.body.data.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(forA.body.pagination.total).toBe(2);
    const forC = await list({ endUserId: c.endUserId!, pageSize: 100 });
    expect(forC.body.data.map((r) => r.id)).toEqual([c.id]);

    // The same external id in another application is another end-user.
    const otherAgent = await newAgent(other, { labels: [label()] });
    const elsewhere = await newRun(other, otherAgent.id, {}, { 'Switchboard-User': ext1 });
    expect(elsewhere.endUserId).toMatch(EU_ID);
    expect(elsewhere.endUserId).not.toBe(a.endUserId);
    expect((await list({ endUserId: a.endUserId! }, other)).body.pagination.total).toBe(0);
    for (const r of [a, b, c, none]) await cancelRun(app, r.id);
    await cancelRun(other, elsewhere.id);
  });

  it("an unknown agent is 404; another application's agent is 404", async () => {
    const p = expectProblem(await createRunReq(app, { agentId: absent('agent') }), 404, 'not-found');
    expect(p.detail).toContain(absent('agent'));
    const otherAgent = await newAgent(other, { labels: [label()] });
    expectProblem(await createRunReq(app, { agentId: otherAgent.id }), 404, 'not-found');
    expect((await list({ agentId: otherAgent.id }, other)).body.pagination.total).toBe(0);
  });

  it('a paused agent and a retired agent accept no runs (409 invalid-transition naming the status)', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    expect((await call(app, 'POST', `/api/v1/agents/${agent.id}/pause`)).status).toBe(200);
    expectInvalidTransition(await createRunReq(app, { agentId: agent.id }), 'paused');
    expect((await call(app, 'POST', `/api/v1/agents/${agent.id}/resume`)).status).toBe(200);
    const ok = await newRun(app, agent.id);
    expect(ok.status).toBe('queued');
    expect((await call(app, 'POST', `/api/v1/agents/${agent.id}/retire`)).status).toBe(200);
    expectInvalidTransition(await createRunReq(app, { agentId: agent.id }), 'retired');
    const runs = await list({ agentId: agent.id });
    expect(runs.body.data.map((r) => r.id)).toEqual([ok.id]);
    await cancelRun(app, ok.id);
  });

  it('validates the body (422) and stores nothing', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    for (const body of [{ agentId: agent.id, ttlSeconds: 0 }, { agentId: agent.id, input: [] }, { agentId: 'nope' }, { agentId: agent.id, extra: 1 }, {}]) {
      expectProblem(await createRunReq(app, body), 422, 'validation-error');
    }
    expect((await list({ agentId: agent.id })).body.pagination.total).toBe(0);
  });

  it('an Idempotency-Key replay returns the same run and creates no other', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const key = `idem-${label()}`;
    const body = { agentId: agent.id, input: { q: 'once' } };
    const first = await createRunReq(app, body, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const again = await createRunReq(app, body, { 'Idempotency-Key': key });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    const runs = await list({ agentId: agent.id });
    expect(runs.body.data.map((r) => r.id)).toEqual([first.body.id]);
    // The same key with another body is refused.
    expectProblem(await createRunReq(app, { ...body, input: { q: 'twice' } }, { 'Idempotency-Key': key }), 422, 'idempotency-key-reused');
    expect((await list({ agentId: agent.id })).body.pagination.total).toBe(1);
    await cancelRun(app, first.body.id);
  });

  it('a read key cannot start runs (403); a write key can', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const read = await createKey({ scopes: ['read'], by: app.key });
    const readConn = { baseUrl: app.baseUrl, key: read.secret };
    expectProblem(await createRunReq(readConn, { agentId: agent.id }), 403, 'forbidden');
    expect((await list({ agentId: agent.id }, readConn)).body.pagination.total).toBe(0);
    const write = await createKey({ scopes: ['write'], by: app.key });
    const run = await newRun({ baseUrl: app.baseUrl, key: write.secret }, agent.id);
    expect(run.status).toBe('queued');
    // A read key cannot cancel either.
    expectProblem(await cancelRun(readConn, run.id), 403, 'forbidden');
    await cancelRun(app, run.id);
  });

  it('counts against the "run" rate-limit category', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const res = await createRunReq(app, { agentId: agent.id });
    expect(res.status).toBe(201);
    const policy = parseRateLimit(res.headers.get('ratelimit-policy'));
    expect(policy.category).toBe('run');
    expect(policy.second).toBe(60);
    const remaining = parseRateLimit(res.headers.get('ratelimit'));
    expect(remaining.category).toBe('run');
    expect(remaining.first).toBeLessThan(policy.first);
    // Reading runs is another category.
    const got = await call(app, 'GET', `/api/v1/runs/${res.body.id}`);
    expect(parseRateLimit(got.headers.get('ratelimit-policy')).category).toBe('read');
    const cancelled = await cancelRun(app, res.body.id);
    expect(parseRateLimit(cancelled.headers.get('ratelimit-policy')).category).toBe('write');
  });
});

describe('listRuns', () => {
  let agentA: string;
  let agentB: string;
  let runs: Run[]; // in creation order: a0 a1 a2 b0 b1
  let l: string;

  beforeAll(async () => {
    l = label();
    agentA = (await newAgent(app, { labels: [l] })).id;
    agentB = (await newAgent(app, { labels: [label()] })).id;
    runs = [];
    for (const agentId of [agentA, agentA, agentA, agentB, agentB]) {
      runs.push(await newRun(app, agentId));
      // Distinct creation times, so createdAfter/createdBefore have something to separate.
      while (Date.now() <= Date.parse(runs[runs.length - 1]!.createdAt)) await new Promise((r) => setTimeout(r, 1));
    }
    // a0 running, a1 cancelled, a2 queued.
    const runner = await newRunner(app, [l]);
    const c = await claim(runnerConn(inject('auditUrl'), runner), runner.id);
    expect(c.run.id).toBe(runs[0]!.id);
    expect((await cancelRun(app, runs[1]!.id)).status).toBe(200);
  });

  const ids = (rs: Run[]) => rs.map((r) => r.id);

  it('filters by agentId, newest first', async () => {
    const r = await list({ agentId: agentA });
    expect(r.status).toBe(200);
    expect(ids(r.body.data)).toEqual([runs[2]!.id, runs[1]!.id, runs[0]!.id]);
    expect(r.body.pagination).toEqual({ page: 1, pageSize: 20, total: 3, totalPages: 1 });
    const asc = await list({ agentId: agentA, sort: 'createdAt' });
    expect(ids(asc.body.data)).toEqual([runs[0]!.id, runs[1]!.id, runs[2]!.id]);
  });

  it('filters by status', async () => {
    expect(ids((await list({ agentId: agentA, status: 'running' })).body.data)).toEqual([runs[0]!.id]);
    expect(ids((await list({ agentId: agentA, status: 'cancelled' })).body.data)).toEqual([runs[1]!.id]);
    expect(ids((await list({ agentId: agentA, status: 'queued' })).body.data)).toEqual([runs[2]!.id]);
    expect((await list({ agentId: agentA, status: 'succeeded' })).body.data).toEqual([]);
    const running = await list({ status: 'running', pageSize: 100 });
    expect(running.body.data.every((r) => r.status === 'running')).toBe(true);
    expect(ids(running.body.data)).toContain(runs[0]!.id);
    expectProblem(await list({ status: 'sleeping' }), 422, 'validation-error');
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const pivot = runs[3]!.createdAt;
    const after = await list({ createdAfter: pivot, pageSize: 100 });
    expect(ids(after.body.data).filter((id) => ids(runs).includes(id))).toEqual([runs[4]!.id, runs[3]!.id]);
    const before = await list({ createdBefore: pivot, agentId: agentA });
    expect(ids(before.body.data)).toEqual([runs[2]!.id, runs[1]!.id, runs[0]!.id]);
    const between = await list({ createdAfter: runs[1]!.createdAt, createdBefore: runs[4]!.createdAt, pageSize: 100 });
    expect(ids(between.body.data)).toEqual([runs[3]!.id, runs[2]!.id, runs[1]!.id]);
  });

  it('paginates with page and pageSize; a page past the end is empty', async () => {
    const all = [...runs].reverse().map((r) => r.id);
    const seen: string[] = [];
    for (let page = 1; page <= 3; page++) {
      const r = await list({ createdAfter: runs[0]!.createdAt, createdBefore: new Date(Date.parse(runs[4]!.createdAt) + 1).toISOString(), pageSize: 2, page });
      expect(r.body.pagination).toEqual({ page, pageSize: 2, total: 5, totalPages: 3 });
      expect(r.body.data.length).toBe(page < 3 ? 2 : 1);
      seen.push(...ids(r.body.data));
    }
    expect(seen).toEqual(all);
    const past = await list({ agentId: agentA, page: 9 });
    expect(past.body.data).toEqual([]);
    expect(past.body.pagination.total).toBe(3);
  });

  it("does not list another application's runs", async () => {
    expect((await list({ agentId: agentA }, other)).body.pagination.total).toBe(0);
  });
});

describe('dispatch: whether a runner can take a queued run', () => {
  // An application of its own: which runners are online is the whole point.
  let conn: Conn;
  const runnerUrl = () => inject('auditUrl');
  /** Any call with a runner's token marks it seen; a heartbeat on a lease that does not exist claims nothing. */
  const seen = async (runner: { token: string }) => {
    expect((await heartbeat(runnerConn(runnerUrl(), runner), absent('lease'), 1)).status).toBeGreaterThanOrEqual(400);
  };

  beforeAll(async () => {
    conn = { baseUrl: inject('auditUrl'), key: (await isolatedApp('dispatch')).key };
  });

  it('says no runner is online, then which labels no online runner has, then that one can take it; null once the run is not queued', async () => {
    const eu = label();
    const agent = await newAgent(conn, { labels: [eu] });
    // A runner that never called the API is not online.
    const idle = await newRunner(conn, [eu]);
    const created = await createRunReq(conn, { agentId: agent.id });
    expect(created.status).toBe(201);
    expect(created.body.dispatch).toEqual({
      claimable: false,
      reason: 'no_runner_online',
      message: expect.stringMatching(/^No runner is online: none has called the API in the last 40 seconds\.$/),
      requiredLabels: [eu],
      unmatchedLabels: [eu],
      onlineRunners: 0,
      matchingRunners: 0,
    });

    const other = await newRunner(conn, [label()]);
    await seen(other);
    expect((await getRun(conn, created.body.id)).dispatch).toEqual({
      claimable: false,
      reason: 'no_matching_runner',
      message: `No online runner has the label ${eu}, which the agent requires.`,
      requiredLabels: [eu],
      unmatchedLabels: [eu],
      onlineRunners: 1,
      matchingRunners: 0,
    });

    await seen(idle);
    expect((await getRun(conn, created.body.id)).dispatch).toEqual({
      claimable: true,
      reason: null,
      message: null,
      requiredLabels: [eu],
      unmatchedLabels: [],
      onlineRunners: 2,
      matchingRunners: 1,
    });

    const c = await claim(runnerConn(runnerUrl(), idle), idle.id);
    expect(c.run.id).toBe(created.body.id);
    expect((await getRun(conn, created.body.id)).dispatch).toBeNull();
    const cancelled = await cancelRun(conn, created.body.id);
    expect(cancelled.body.dispatch).toBeNull();
  });

  it('labels spread over runners that each lack one: none matches, no label is missing everywhere', async () => {
    const [a, b] = [label(), label()].sort();
    const agent = await newAgent(conn, { labels: [b!, a!] });
    for (const l of [a!, b!]) await seen(await newRunner(conn, [l]));
    const run = await newRun(conn, agent.id);
    expect(run.dispatch).toMatchObject({
      claimable: false,
      reason: 'no_matching_runner',
      message: `No online runner has all of the agent's labels (${a}, ${b}) at once.`,
      requiredLabels: [a, b],
      unmatchedLabels: [],
      matchingRunners: 0,
    });
  });

  it('an agent without labels can be taken by any online runner; listRuns sets dispatch on queued runs only', async () => {
    const free = await newAgent(conn);
    const eu = label();
    const bound = await newAgent(conn, { labels: [eu] });
    const freeRun = await newRun(conn, free.id);
    const boundRun = await newRun(conn, bound.id);
    const done = await newRun(conn, free.id);
    expect((await cancelRun(conn, done.id)).status).toBe(200);
    const page = await call<RunList>(conn, 'GET', '/api/v1/runs?pageSize=100');
    expect(page.status).toBe(200);
    const byId = new Map(page.body.data.map((r) => [r.id, r]));
    expect(byId.get(freeRun.id)!.dispatch).toMatchObject({
      claimable: true,
      requiredLabels: [],
      matchingRunners: byId.get(freeRun.id)!.dispatch!.onlineRunners,
    });
    expect(byId.get(boundRun.id)!.dispatch).toMatchObject({ claimable: false, reason: 'no_matching_runner', unmatchedLabels: [eu] });
    expect(byId.get(done.id)!.dispatch).toBeNull();
    for (const r of page.body.data) expect(r.dispatch === null).toBe(r.status !== 'queued');
  });
});

describe('listRunEvents', () => {
  it('pages with after and limit; hasMore and nextAfter', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l] });
    const runner = await newRunner(app, [l]);
    const rc = runnerConn(inject('auditUrl'), runner);
    const run = await newRun(app, agent.id);
    const c = await claim(rc, runner.id);
    expect((await appendEvents(rc, c.lease.id, c.lease.fencingToken, logs(1, 8))).status).toBe(200);
    // 1 queued + 1 running + 8 logs = 10 events.
    const page = (after: number | undefined, limit: number | undefined) =>
      call<{ data: RunEvent[]; hasMore: boolean; nextAfter: number | null }>(
        app,
        'GET',
        `/api/v1/runs/${run.id}/events?${new URLSearchParams({ ...(after === undefined ? {} : { after: String(after) }), ...(limit === undefined ? {} : { limit: String(limit) }) })}`,
      );

    const all = await page(undefined, undefined);
    expect(all.status).toBe(200);
    expect(all.body.data.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(all.body.hasMore).toBe(false);
    expect(all.body.nextAfter).toBeNull();
    for (const e of all.body.data) {
      expect(e).toEqual({
        id: expect.stringMatching(EVT_ID),
        object: 'run_event',
        runId: run.id,
        seq: e.seq,
        cursor: e.cursor,
        type: e.type,
        data: e.data,
        createdAt: expect.stringMatching(ISO_MS),
      });
    }
    // Cursors grow with seq.
    const cursors = all.body.data.map((e) => e.cursor);
    expect([...cursors].sort((a, b) => a - b)).toEqual(cursors);
    expect(all.body.data[2]).toMatchObject({ type: 'log', data: { level: 'info', message: 'line 1' } });

    const p1 = await page(0, 4);
    expect(p1.body.data.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(p1.body).toMatchObject({ hasMore: true, nextAfter: 4 });
    const p2 = await page(p1.body.nextAfter!, 4);
    expect(p2.body.data.map((e) => e.seq)).toEqual([5, 6, 7, 8]);
    expect(p2.body).toMatchObject({ hasMore: true, nextAfter: 8 });
    const p3 = await page(p2.body.nextAfter!, 4);
    expect(p3.body.data.map((e) => e.seq)).toEqual([9, 10]);
    expect(p3.body).toMatchObject({ hasMore: false, nextAfter: null });
    // Exactly `limit` left: no further page.
    const exact = await page(6, 4);
    expect(exact.body.data.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
    expect(exact.body).toMatchObject({ hasMore: false, nextAfter: null });
    const none = await page(10, 4);
    expect(none.body).toEqual({ data: [], hasMore: false, nextAfter: null });
    expect((await page(3, 2)).body.data).toEqual(all.body.data.slice(3, 5));
    expectProblem(await page(0, 0), 422, 'validation-error');
    expectProblem(await page(0, 1001), 422, 'validation-error');
    await cancelRun(app, run.id);
  });
});

describe("another application's run", () => {
  it('is 404 for getRun, cancelRun, resumeRun and listRunEvents, and stays unchanged', async () => {
    const agent = await newAgent(app, { labels: [label()] });
    const run = await newRun(app, agent.id);
    for (const [method, path] of [
      ['GET', `/api/v1/runs/${run.id}`],
      ['POST', `/api/v1/runs/${run.id}/cancel`],
      ['POST', `/api/v1/runs/${run.id}/resume`],
      ['GET', `/api/v1/runs/${run.id}/events`],
    ] as const) {
      const p = expectProblem(await call(other, method, path), 404, 'not-found');
      expect(p.instance).toBe(path);
    }
    expect(await getRun(app, run.id)).toEqual(run);
    expect((await runEvents(app, run.id)).length).toBe(1);
    // With X-App-Id naming this application, an admin key of another application of the organization may act.
    const viaAppId = await call<Run>({ ...other, headers: { 'X-App-Id': appId } }, 'GET', `/api/v1/runs/${run.id}`);
    expect(viaAppId.status).toBe(200);
    expect(viaAppId.body).toEqual(run);
    await cancelRun(app, run.id);
    expectInvalidTransition(await resumeRun(app, run.id), 'cancelled');
  });
});
