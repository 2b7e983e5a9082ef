import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBootstrapKey, onPostgres, startReplicas, type Replicas } from '../support/server-process.js';
import { call, runEvents, type Conn, type Run } from './run-helpers.js';

describe.skipIf(!onPostgres)('a schedule on three server processes sharing one PostgreSQL database (needs DATABASE_URL=postgres://...)', () => {
  let replicas: Replicas;
  let app: Conn;

  beforeAll(async () => {
    const key = newBootstrapKey();
    const env = { SWITCHBOARD_BOOTSTRAP_KEY: key, SCHEDULER_INTERVAL_MS: '200', RATE_LIMIT_READ: '100000', RATE_LIMIT_WRITE: '100000' };
    replicas = await startReplicas(3, env);
    app = { baseUrl: replicas.servers[0]!.url, key };
  }, 60_000);

  afterAll(async () => {
    await replicas?.stop();
  });

  it('fires a schedule due every second for 10 s exactly once per due time', async () => {
    const agent = (await call(app, 'POST', '/api/v1/agents', { name: 'ticker', model: 'echo' })).body as { id: string };
    const schedule = (await call(app, 'POST', '/api/v1/schedules', { name: 'every second', agentId: agent.id, cron: '* * * * * *' })).body as { id: string };
    await new Promise((r) => setTimeout(r, 10_000));
    await call(app, 'POST', `/api/v1/schedules/${schedule.id}/pause`);
    // Let a pass that was under way when the schedule paused finish.
    await new Promise((r) => setTimeout(r, 500));
    const runs = (await call<{ data: Run[] }>(app, 'GET', `/api/v1/schedules/${schedule.id}/runs?pageSize=100`)).body.data;
    const due = (await Promise.all(runs.map(async (r) => (await runEvents(app, r.id))[0]!.data.scheduledFor))).map(String).sort();
    expect(new Set(due).size, 'a due time fired twice').toBe(due.length);
    expect(due.length).toBeGreaterThanOrEqual(9);
    // Consecutive seconds: no due time was skipped either.
    const seconds = due.map((d) => Date.parse(d) / 1000);
    expect(seconds.every((s, i) => i === 0 || s === seconds[i - 1]! + 1)).toBe(true);
  }, 40_000);
});
