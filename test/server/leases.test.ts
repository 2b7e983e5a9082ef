import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import {
  appendEvents,
  call,
  cancelRun,
  claim,
  claimReq,
  complete,
  expectInvalidTransition,
  expectLeaseLost,
  getRun,
  heartbeat,
  label,
  logs,
  newAgent,
  newRun,
  newRunner,
  resumeRun,
  runEvents,
  runnerConn,
  waitRun,
  type Conn,
} from './run-helpers.js';

/**
 * Leases, timeouts and expiry, driven by a fake clock on an in-process server: time moves only when
 * the test moves it, and the reaper runs only when the test calls reapNow (its own timer is a minute).
 * The clock is process-global, so these tests run one after the other.
 */
const LEASE_MS = 30_000;
let fakeNow = Date.parse('2027-03-01T12:00:00.000Z');
const advance = (ms: number) => {
  fakeNow += ms;
};
const iso = (ms: number) => new Date(ms).toISOString();

let server: RunningServer;
let app: Conn;
let running: InProcessServer | undefined;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => fakeNow }, { LEASE_SECONDS: String(LEASE_MS / 1000) });
  server = running.server;
  app = { baseUrl: running.baseUrl, key: running.adminKey };
});

afterAll(() => running?.stop());

async function scenario(limits: Record<string, number> = {}) {
  const l = label();
  const agent = await newAgent(app, { labels: [l], limits });
  const r1 = await newRunner(app, [l]);
  const r2 = await newRunner(app, [l]);
  return { agent, r1, r2, c1: runnerConn(server.url, r1), c2: runnerConn(server.url, r2) };
}

/** The run's last status event (a wait that ends also tells of its approval). */
const lastEvent = async (runId: string) => (await runEvents(app, runId)).filter((e) => e.type === 'status').pop()!;

describe('lease expiry and re-queue', () => {
  it('a runner that stops heartbeating loses the run: re-queued (attempt 2), claimed by another runner with a higher fencing token', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id);
    const first = await claim(s.c1, s.r1.id);
    expect(first.lease.fencingToken).toBe(1);
    expect(first.lease.expiresAt).toBe(iso(fakeNow + LEASE_MS));

    // Not yet: one millisecond before the lease ends, the reaper leaves it alone.
    advance(LEASE_MS - 1);
    await server.reapNow();
    expect((await getRun(app, run.id)).status).toBe('running');

    advance(2);
    // Expired leases are lost even before the reaper has seen them.
    expectLeaseLost(await heartbeat(s.c1, first.lease.id, 1));
    await server.reapNow();
    const requeued = await getRun(app, run.id);
    expect(requeued).toMatchObject({ status: 'queued', attempt: 2, finishedAt: null, error: null });
    expect(requeued.queuedAt).toBe(iso(fakeNow));
    const events = await runEvents(app, run.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[2]).toMatchObject({ type: 'status', data: { status: 'queued', previousStatus: 'running', attempt: 2, reason: 'lease_expired' } });
    // A second pass changes nothing.
    await server.reapNow();
    expect(await runEvents(app, run.id)).toEqual(events);

    // The first runner is told, whatever it tries, while the run is queued (the detail names the status).
    expectLeaseLost(await heartbeat(s.c1, first.lease.id, 1), 'queued');
    expectLeaseLost(await appendEvents(s.c1, first.lease.id, 1, logs(1, 1)), 'queued');

    const second = await claim(s.c2, s.r2.id);
    expect(second.run).toMatchObject({ id: run.id, status: 'running', attempt: 2 });
    expect(second.lease.fencingToken).toBe(2);
    expect(second.lease.id).not.toBe(first.lease.id);
    expect(second.lease.runnerId).toBe(s.r2.id);

    // The first runner's late writes, with its old lease and token, are all refused.
    expectLeaseLost(await heartbeat(s.c1, first.lease.id, 1));
    expectLeaseLost(await appendEvents(s.c1, first.lease.id, 1, logs(1, 2)));
    expectLeaseLost(await waitRun(s.c1, first.lease.id, 1));
    expectLeaseLost(await complete(s.c1, first.lease.id, { fencingToken: 1, status: 'succeeded', output: { by: 'first' } }));
    // The old token on the new lease is refused too (and it is not the first runner's lease).
    const stale = await complete(s.c2, second.lease.id, { fencingToken: 1, status: 'succeeded', output: { by: 'stale' } });
    expectLeaseLost(stale, 'stale');

    const append = await appendEvents(s.c2, second.lease.id, 2, logs(1, 2));
    expect(append.status).toBe(200);
    const fin = await complete(s.c2, second.lease.id, { fencingToken: 2, status: 'succeeded', output: { by: 'second' } });
    expect(fin.status).toBe(200);
    expect(fin.body).toMatchObject({ status: 'succeeded', attempt: 2, output: { by: 'second' } });

    expectLeaseLost(await complete(s.c1, first.lease.id, { fencingToken: 1, status: 'succeeded', output: { by: 'first' } }));
    const all = await runEvents(app, run.id);
    expect(all.map((e) => [e.type, e.type === 'status' ? e.data.status : e.type === 'log' ? e.data.message : undefined])).toEqual([
      ['status', 'queued'],
      ['status', 'running'],
      ['status', 'queued'],
      ['status', 'running'],
      ['log', 'line 1'],
      ['log', 'line 2'],
      ['status', 'succeeded'],
    ]);
    expect((await getRun(app, run.id)).output).toEqual({ by: 'second' });
  });

  it('a stale fencing token on the current lease is 409 lease-lost', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id);
    const first = await claim(s.c1, s.r1.id);
    advance(LEASE_MS + 1);
    await server.reapNow();
    // The same runner claims the run again: a new lease with token 2.
    const again = await claim(s.c1, s.r1.id);
    expect(again.run.id).toBe(run.id);
    expect(again.lease.fencingToken).toBe(2);
    const before = await runEvents(app, run.id);
    expectLeaseLost(await heartbeat(s.c1, again.lease.id, 1), 'stale');
    expectLeaseLost(await appendEvents(s.c1, again.lease.id, 1, logs(1, 1)), 'stale');
    expectLeaseLost(await waitRun(s.c1, again.lease.id, 1), 'stale');
    expectLeaseLost(await complete(s.c1, again.lease.id, { fencingToken: 1, status: 'succeeded', output: {} }), 'stale');
    // A token from the future is not the current one either.
    expectLeaseLost(await heartbeat(s.c1, again.lease.id, 3));
    expect(await runEvents(app, run.id)).toEqual(before);
    expect((await getRun(app, run.id)).status).toBe('running');
    expectLeaseLost(await heartbeat(s.c1, first.lease.id, 1));
    expect((await complete(s.c1, again.lease.id, { fencingToken: 2, status: 'succeeded', output: {} })).status).toBe(200);
  });

  it('heartbeats extend the lease: no re-queue while they keep coming', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id);
    const c = await claim(s.c1, s.r1.id);
    for (let i = 0; i < 6; i++) {
      advance(LEASE_MS - 5_000);
      await server.reapNow();
      const hb = await heartbeat(s.c1, c.lease.id, 1);
      expect(hb.status).toBe(200);
      expect(hb.body.lease).toMatchObject({
        id: c.lease.id,
        fencingToken: 1,
        runId: run.id,
        runnerId: s.r1.id,
        expiresAt: iso(fakeNow + LEASE_MS),
        updatedAt: iso(fakeNow),
      });
      expect(hb.body.lease.createdAt).toBe(c.lease.createdAt);
      expect(hb.body.run).toMatchObject({ id: run.id, status: 'running', attempt: 1 });
    }
    // 150 s after the claim, five times the lease, the run never left its runner.
    const events = await runEvents(app, run.id);
    expect(events.map((e) => e.data.status)).toEqual(['queued', 'running']);
    expect((await getRun(app, run.id)).attempt).toBe(1);
    // Then the heartbeats stop.
    advance(LEASE_MS);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'queued', attempt: 2 });
    await cancelRun(app, run.id);
  });

  it('a waiting run whose runner is lost goes back to the queue', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id);
    const c = await claim(s.c1, s.r1.id);
    expect((await waitRun(s.c1, c.lease.id, 1)).status).toBe(200);
    advance(LEASE_MS + 1);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'queued', attempt: 2, requiredAction: null });
    expect((await lastEvent(run.id)).data).toMatchObject({ status: 'queued', previousStatus: 'waiting' });
    // Nobody is left to decide what it asked: its approval is cancelled.
    const asked = await call<{ data: { status: string }[] }>(app, 'GET', `/api/v1/approvals?runId=${run.id}`);
    expect(asked.body.data.map((a) => a.status)).toEqual(['cancelled']);
    expectInvalidTransition(await resumeRun(app, run.id), 'queued');
    await cancelRun(app, run.id);
  });

  it('after maxAttempts the run fails with error.code runner_lost', async () => {
    const s = await scenario({ maxAttempts: 2 });
    expect(s.agent.limits.maxAttempts).toBe(2);
    const run = await newRun(app, s.agent.id);
    const a1 = await claim(s.c1, s.r1.id);
    expect(a1.run.attempt).toBe(1);
    advance(LEASE_MS + 1);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'queued', attempt: 2 });
    const a2 = await claim(s.c2, s.r2.id);
    expect(a2.run.attempt).toBe(2);
    expect(a2.lease.fencingToken).toBe(2);
    advance(LEASE_MS + 1);
    await server.reapNow();
    const failed = await getRun(app, run.id);
    expect(failed).toMatchObject({ status: 'failed', attempt: 2, error: { code: 'runner_lost' } });
    expect(failed.finishedAt).toBe(iso(fakeNow));
    const last = await lastEvent(run.id);
    expect(last).toMatchObject({ type: 'status', data: { status: 'failed', previousStatus: 'running', error: { code: 'runner_lost' } } });
    expect((await runEvents(app, run.id)).map((e) => e.data.status)).toEqual(['queued', 'running', 'queued', 'running', 'failed']);
    // Terminal: nobody claims it, nobody can cancel it, late runners are told.
    expect((await claimReq(s.c1, s.r1.id)).status).toBe(204);
    expectInvalidTransition(await cancelRun(app, run.id), 'failed');
    expectLeaseLost(await heartbeat(s.c2, a2.lease.id, 2), 'failed');
    expectLeaseLost(await complete(s.c2, a2.lease.id, { fencingToken: 2, status: 'succeeded', output: {} }), 'failed');
  });

  it('deleting a runner on the last attempt fails the run with runner_lost', async () => {
    const s = await scenario({ maxAttempts: 1 });
    const run = await newRun(app, s.agent.id);
    await claim(s.c1, s.r1.id);
    expect((await call(app, 'DELETE', `/api/v1/runners/${s.r1.id}`)).status).toBe(204);
    expect(await getRun(app, run.id)).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'runner_lost' } });
  });
});

describe('timeouts and expiry', () => {
  it("a run past its agent's timeoutSeconds times out (error.code timed_out), even while heartbeating", async () => {
    const s = await scenario({ timeoutSeconds: 60 });
    const run = await newRun(app, s.agent.id);
    const c = await claim(s.c1, s.r1.id);
    for (let i = 0; i < 2; i++) {
      advance(20_000);
      await server.reapNow();
      expect((await heartbeat(s.c1, c.lease.id, 1)).status).toBe(200);
    }
    advance(19_999);
    await server.reapNow();
    expect((await getRun(app, run.id)).status).toBe('running');
    advance(1);
    // Exactly 60 s after the start: due.
    await server.reapNow();
    const timedOut = await getRun(app, run.id);
    expect(timedOut).toMatchObject({ status: 'timed_out', error: { code: 'timed_out' }, attempt: 1 });
    expect(timedOut.finishedAt).toBe(iso(fakeNow));
    expect(await lastEvent(run.id)).toMatchObject({ type: 'status', data: { status: 'timed_out', previousStatus: 'running', error: { code: 'timed_out' } } });
    expectLeaseLost(await heartbeat(s.c1, c.lease.id, 1), 'timed_out');
    expectLeaseLost(await appendEvents(s.c1, c.lease.id, 1, logs(1, 1)), 'timed_out');
    expectLeaseLost(await complete(s.c1, c.lease.id, { fencingToken: 1, status: 'succeeded', output: {} }), 'timed_out');
    expectInvalidTransition(await cancelRun(app, run.id), 'timed_out');
    expectInvalidTransition(await resumeRun(app, run.id), 'timed_out');
    expect((await runEvents(app, run.id)).map((e) => e.data.status)).toEqual(['queued', 'running', 'timed_out']);
  });

  it('a waiting run times out too', async () => {
    const s = await scenario({ timeoutSeconds: 60 });
    const run = await newRun(app, s.agent.id);
    const c = await claim(s.c1, s.r1.id);
    expect((await waitRun(s.c1, c.lease.id, 1)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      advance(20_000);
      expect((await heartbeat(s.c1, c.lease.id, 1)).status).toBe(200);
    }
    advance(20_000);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'timed_out', requiredAction: null, error: { code: 'timed_out' } });
    expect((await lastEvent(run.id)).data).toMatchObject({ status: 'timed_out', previousStatus: 'waiting' });
  });

  it('timeoutSeconds limits each attempt: a re-queued run gets the full time again', async () => {
    const s = await scenario({ timeoutSeconds: 60 });
    const run = await newRun(app, s.agent.id);
    await claim(s.c1, s.r1.id);
    advance(LEASE_MS + 1);
    await server.reapNow();
    const second = await claim(s.c2, s.r2.id);
    expect(second.run.attempt).toBe(2);
    // 40 s into attempt 2 (70 s after attempt 1 started): still within its own 60 s.
    for (let i = 0; i < 2; i++) {
      advance(20_000);
      expect((await heartbeat(s.c2, second.lease.id, 2)).status).toBe(200);
      await server.reapNow();
    }
    expect(await getRun(app, run.id)).toMatchObject({ status: 'running', attempt: 2 });
    advance(19_999);
    expect((await heartbeat(s.c2, second.lease.id, 2)).status).toBe(200);
    await server.reapNow();
    expect((await getRun(app, run.id)).status).toBe('running');
    advance(1);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'timed_out', attempt: 2, error: { code: 'timed_out' } });
  });

  it('a queued run past its ttlSeconds expires', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id, { ttlSeconds: 120 });
    expect(run.expiresAt).toBe(iso(Date.parse(run.queuedAt) + 120_000));
    advance(119_999);
    await server.reapNow();
    expect((await getRun(app, run.id)).status).toBe('queued');
    advance(1);
    // Due but not yet reaped: no runner gets it.
    expect((await claimReq(s.c1, s.r1.id)).status).toBe(204);
    await server.reapNow();
    const expired = await getRun(app, run.id);
    expect(expired).toMatchObject({ status: 'expired', error: { code: 'expired' }, startedAt: null });
    expect(expired.finishedAt).toBe(iso(fakeNow));
    expect((await runEvents(app, run.id)).map((e) => [e.data.previousStatus, e.data.status])).toEqual([
      [null, 'queued'],
      ['queued', 'expired'],
    ]);
    expectInvalidTransition(await cancelRun(app, run.id), 'expired');
    expectInvalidTransition(await resumeRun(app, run.id), 'expired');
    expect((await claimReq(s.c1, s.r1.id)).status).toBe(204);
  });

  it('a re-queued run gets its TTL again from the time it was re-queued', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id, { ttlSeconds: 60 });
    await claim(s.c1, s.r1.id);
    advance(LEASE_MS + 1);
    await server.reapNow();
    const requeued = await getRun(app, run.id);
    expect(requeued).toMatchObject({ status: 'queued', attempt: 2 });
    expect(requeued.expiresAt).toBe(iso(fakeNow + 60_000));
    advance(60_000);
    await server.reapNow();
    expect(await getRun(app, run.id)).toMatchObject({ status: 'expired', attempt: 2 });
  });

  it('a claimed run does not expire', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id, { ttlSeconds: 10 });
    const c = await claim(s.c1, s.r1.id);
    advance(20_000);
    await server.reapNow();
    expect((await getRun(app, run.id)).status).toBe('running');
    expect((await complete(s.c1, c.lease.id, { fencingToken: 1, status: 'succeeded', output: {} })).status).toBe(200);
  });
});
