import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, claimReq, expectProblem, isolatedApp, label, newAgent, newRun, newRunner, runnerConn, type Conn } from './run-helpers.js';

let app: Conn;
beforeAll(async () => {
  app = { baseUrl: inject('auditUrl'), key: (await isolatedApp('regressions')).key };
});

describe('input the checks must catch before it reaches the database', () => {
  it('refuses a leap-second timestamp (valid RFC 3339, not a JavaScript date) with 422, in a query and in a body', async () => {
    const q = await call(app, 'GET', '/api/v1/agents?createdAfter=2016-12-31T23:59:60Z');
    expect(expectProblem(q, 422, 'validation-error').errors!.map((e) => (e as { parameter?: string }).parameter)).toEqual(['createdAfter']);
    const b = await call(app, 'POST', '/api/v1/api-keys', { name: 'leap', scopes: ['read'], expiresAt: '2030-06-30T23:59:60Z' });
    expect(expectProblem(b, 422, 'validation-error').errors!.map((e) => e.pointer)).toEqual(['/expiresAt']);
  });

  it('refuses a merge patch whose result breaks the schema (more metadata keys than allowed), changing nothing', async () => {
    const agent = await newAgent(app);
    const fifty = (prefix: string) => Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${prefix}${i}`, 'v']));
    const created = await call(app, 'POST', '/api/v1/schedules', { name: 's', agentId: agent.id, cron: '0 0 * * *', metadata: fifty('a') });
    expect(created.status).toBe(201);
    const patched = await call(app, 'PATCH', `/api/v1/schedules/${created.body.id}`, { metadata: fifty('b') });
    expect(expectProblem(patched, 422, 'validation-error').errors!.map((e) => e.pointer)).toEqual(['/metadata']);
    expect(Object.keys((await call(app, 'GET', `/api/v1/schedules/${created.body.id}`)).body.metadata)).toHaveLength(50);
  });
});

describe('records that must not disappear or be overridden', () => {
  it('keeps an agent that has runs (409: retire it), and deletes one that has none', async () => {
    const used = await newAgent(app);
    await newRun(app, used.id);
    expectProblem(await call(app, 'DELETE', `/api/v1/agents/${used.id}`), 409, 'conflict', 'retire');
    expect((await call(app, 'GET', `/api/v1/agents/${used.id}`)).status).toBe(200);
    const unused = await newAgent(app);
    expect((await call(app, 'DELETE', `/api/v1/agents/${unused.id}`)).status).toBe(204);
  });

  it('honours If-Match when deleting a runner', async () => {
    const runner = await newRunner(app, [label()]);
    expectProblem(await call(app, 'DELETE', `/api/v1/runners/${runner.id}`, undefined, { 'If-Match': '"stale"' }), 412, 'precondition-failed');
    const etag = (await call(app, 'GET', `/api/v1/runners/${runner.id}`)).headers.get('etag')!;
    expect((await call(app, 'DELETE', `/api/v1/runners/${runner.id}`, undefined, { 'If-Match': etag })).status).toBe(204);
  });

  it('starts at most maxConcurrentRuns runs of an agent, even when runners claim at the same moment', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l], limits: { maxConcurrentRuns: 1 } });
    for (let i = 0; i < 4; i++) await newRun(app, agent.id);
    const runners = await Promise.all(Array.from({ length: 4 }, () => newRunner(app, [l])));
    const direct = (r: { token: string }) => runnerConn(inject('serverUrl'), r);
    const claims = await Promise.all(runners.map((r) => claimReq(direct(r), r.id)));
    // Other tests here leave runs of label-less agents, which any runner may take: count this agent's.
    expect(claims.filter((c) => c.status === 200 && c.body.run.agentId === agent.id)).toHaveLength(1);
    const running = await call<{ data: unknown[] }>(app, 'GET', `/api/v1/runs?agentId=${agent.id}&status=running`);
    expect(running.body.data).toHaveLength(1);
  });
});

describe('a configured bootstrap key', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  });
  afterAll(() => server?.stop());

  it('is never printed: the operator has it already', () => {
    expect(server.output()).not.toContain(server.adminKey);
    expect(server.output()).toContain('the admin key is SWITCHBOARD_BOOTSTRAP_KEY');
  });
});
