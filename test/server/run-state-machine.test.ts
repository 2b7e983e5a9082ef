import { beforeAll, describe, expect, inject, it } from 'vitest';
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
  isolatedApp,
  label,
  newAgent,
  newRun,
  newRunner,
  resumeRun,
  runEvents,
  runnerConn,
  waitRun,
  type Claim,
  type Conn,
  type Run,
  type RunEvent,
} from './run-helpers.js';

/**
 * DOMAIN.md's run status machine through the API: every allowed move appends exactly one `status`
 * event naming the previous status; every forbidden one is 409 and changes nothing. The moves the
 * clock drives (expired, timed_out, re-queue, runner_lost) are in leases.test.ts.
 */
let app: Conn;

beforeAll(async () => {
  const { key } = await isolatedApp('state machine');
  app = { baseUrl: inject('auditUrl'), key };
});

/** An agent and a runner that only match each other, so no other test's run is claimed. */
async function scenario() {
  const l = label();
  const agent = await newAgent(app, { labels: [l] });
  const runner = await newRunner(app, [l]);
  const rc = runnerConn(inject('auditUrl'), runner);
  return { agent, runner, rc };
}

type Scenario = Awaited<ReturnType<typeof scenario>>;

/**
 * The run's events so far must end with exactly one more status event, the move `previous -> status`
 * (a wait, its end and a cancelled wait also add their approval's event); returns the status events.
 */
async function expectOneMoreStatusEvent(runId: string, before: RunEvent[], status: string, previousStatus: string | null) {
  const after = await runEvents(app, runId);
  expect(after.slice(0, before.length)).toEqual(before);
  const added = after.slice(before.length);
  expect(added.map((e) => e.seq)).toEqual(added.map((_, i) => before.length + 1 + i));
  expect(added.filter((e) => e.type !== 'status').every((e) => e.type.startsWith('approval.'))).toBe(true);
  const statuses = added.filter((e) => e.type === 'status');
  expect(statuses).toHaveLength(1);
  expect(statuses[0]!.data).toMatchObject({ status, previousStatus });
  return after.filter((e) => e.type === 'status');
}

async function queued(s: Scenario): Promise<{ run: Run; events: RunEvent[] }> {
  const run = await newRun(app, s.agent.id, { input: { n: 1 } });
  return { run, events: await runEvents(app, run.id) };
}

async function running(s: Scenario): Promise<{ run: Run; claim: Claim; events: RunEvent[] }> {
  const { run } = await queued(s);
  const c = await claim(s.rc, s.runner.id);
  expect(c.run.id).toBe(run.id);
  return { run: c.run, claim: c, events: await runEvents(app, run.id) };
}

async function waiting(s: Scenario) {
  const r = await running(s);
  const w = await waitRun(s.rc, r.claim.lease.id, r.claim.lease.fencingToken);
  expect(w.status).toBe(200);
  return { ...r, run: w.body, events: await runEvents(app, r.run.id) };
}

describe('allowed transitions, each with exactly one status event', () => {
  it('create: -> queued (event 1, previousStatus null)', async () => {
    const s = await scenario();
    const run = await newRun(app, s.agent.id);
    expect(run.status).toBe('queued');
    expect(run.attempt).toBe(1);
    const events = await runEvents(app, run.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ seq: 1, type: 'status', runId: run.id, data: { status: 'queued', previousStatus: null, attempt: 1 } });
  });

  it('claim: queued -> running', async () => {
    const s = await scenario();
    const { run, events } = await queued(s);
    const c = await claim(s.rc, s.runner.id);
    expect(c.run).toMatchObject({ id: run.id, status: 'running', attempt: 1 });
    expect(c.run.startedAt).not.toBeNull();
    const after = await expectOneMoreStatusEvent(run.id, events, 'running', 'queued');
    expect(after[1]!.data).toMatchObject({ attempt: 1, runnerId: s.runner.id });
    expect((await getRun(app, run.id)).status).toBe('running');
  });

  it('wait: running -> waiting, with the requiredAction', async () => {
    const s = await scenario();
    const r = await running(s);
    const action = { type: 'approval', message: 'Refund 49 EUR?', data: { amount: 4900 } };
    const w = await waitRun(s.rc, r.claim.lease.id, r.claim.lease.fencingToken, action);
    expect(w.status).toBe(200);
    expect(w.body).toMatchObject({ status: 'waiting', requiredAction: action });
    const after = await expectOneMoreStatusEvent(r.run.id, r.events, 'waiting', 'running');
    expect(after[after.length - 1]!.data.requiredAction).toEqual(action);
    expect(await getRun(app, r.run.id)).toMatchObject({ status: 'waiting', requiredAction: action });
  });

  it('resume: waiting -> running; the runner learns it from its heartbeat', async () => {
    const s = await scenario();
    const r = await waiting(s);
    const res = await resumeRun(app, r.run.id, { approved: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'running', requiredAction: null });
    const after = await expectOneMoreStatusEvent(r.run.id, r.events, 'running', 'waiting');
    expect(after[after.length - 1]!.data.input).toEqual({ approved: true });
    const hb = await heartbeat(s.rc, r.claim.lease.id, r.claim.lease.fencingToken);
    expect(hb.status).toBe(200);
    expect(hb.body.run).toMatchObject({ id: r.run.id, status: 'running', requiredAction: null });
  });

  it('complete succeeded: running -> succeeded, with output, usage and cost', async () => {
    const s = await scenario();
    const r = await running(s);
    const done = await complete(s.rc, r.claim.lease.id, {
      fencingToken: r.claim.lease.fencingToken,
      status: 'succeeded',
      output: { answer: 42 },
      usage: { inputTokens: 100, outputTokens: 20 },
      costMicros: 1234,
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      status: 'succeeded',
      output: { answer: 42 },
      error: null,
      usage: { inputTokens: 100, outputTokens: 20 },
      costMicros: 1234,
    });
    expect(done.body.finishedAt).not.toBeNull();
    await expectOneMoreStatusEvent(r.run.id, r.events, 'succeeded', 'running');
    expect(await getRun(app, r.run.id)).toEqual(done.body);
  });

  it('complete failed: running -> failed, with the error', async () => {
    const s = await scenario();
    const r = await running(s);
    const error = { code: 'tool_error', message: 'The tool answered 503.' };
    const done = await complete(s.rc, r.claim.lease.id, { fencingToken: r.claim.lease.fencingToken, status: 'failed', error });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'failed', error, output: null });
    const after = await expectOneMoreStatusEvent(r.run.id, r.events, 'failed', 'running');
    expect(after[after.length - 1]!.data.error).toEqual(error);
  });

  it('cancel from queued', async () => {
    const s = await scenario();
    const { run, events } = await queued(s);
    const res = await cancelRun(app, run.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: run.id, status: 'cancelled', error: { code: 'cancelled' } });
    expect(res.body.finishedAt).not.toBeNull();
    await expectOneMoreStatusEvent(run.id, events, 'cancelled', 'queued');
    // Nobody can claim it any more.
    expect((await claimReq(s.rc, s.runner.id)).status).toBe(204);
  });

  it('cancel from running; the runner learns it from its heartbeat (409 lease-lost naming cancelled) and its later writes are refused', async () => {
    const s = await scenario();
    const r = await running(s);
    const res = await cancelRun(app, r.run.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
    const after = await expectOneMoreStatusEvent(r.run.id, r.events, 'cancelled', 'running');
    const { lease } = r.claim;
    // The heartbeat is how it learns: 409 lease-lost naming the status (heartbeatLease).
    expectLeaseLost(await heartbeat(s.rc, lease.id, lease.fencingToken), 'cancelled');
    expectLeaseLost(await appendEvents(s.rc, lease.id, lease.fencingToken, [{ runnerSeq: 1, type: 'log', data: { message: 'late' } }]), 'cancelled');
    expectLeaseLost(await complete(s.rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} }), 'cancelled');
    expectLeaseLost(await waitRun(s.rc, lease.id, lease.fencingToken), 'cancelled');
    expect(await runEvents(app, r.run.id)).toEqual(after);
    expect((await getRun(app, r.run.id)).status).toBe('cancelled');
  });

  it('cancel from waiting', async () => {
    const s = await scenario();
    const r = await waiting(s);
    const res = await cancelRun(app, r.run.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'cancelled', requiredAction: null, error: { code: 'cancelled' } });
    await expectOneMoreStatusEvent(r.run.id, r.events, 'cancelled', 'waiting');
    expectLeaseLost(await heartbeat(s.rc, r.claim.lease.id, r.claim.lease.fencingToken), 'cancelled');
  });

  it('a full trip: queued, running, waiting, running, waiting, running, succeeded', async () => {
    const s = await scenario();
    const r = await running(s);
    const { lease } = r.claim;
    for (let i = 0; i < 2; i++) {
      expect((await waitRun(s.rc, lease.id, lease.fencingToken)).status).toBe(200);
      expect((await resumeRun(app, r.run.id)).status).toBe(200);
    }
    expect((await complete(s.rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
    const all = await runEvents(app, r.run.id);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    // Each wait asked through an approval, and each resume decided it.
    expect(all.filter((e) => e.type !== 'status').map((e) => e.type)).toEqual([
      'approval.requested',
      'approval.decided',
      'approval.requested',
      'approval.decided',
    ]);
    const events = all.filter((e) => e.type === 'status');
    expect(events.map((e) => [e.data.previousStatus, e.data.status])).toEqual([
      [null, 'queued'],
      ['queued', 'running'],
      ['running', 'waiting'],
      ['waiting', 'running'],
      ['running', 'waiting'],
      ['waiting', 'running'],
      ['running', 'succeeded'],
    ]);
  });
});

describe('forbidden transitions: 409 invalid-transition naming the current status, nothing changes', () => {
  /** Runs in each terminal state reachable through the API. */
  async function terminal(s: Scenario, status: 'succeeded' | 'failed' | 'cancelled') {
    if (status === 'cancelled') {
      const { run } = await queued(s);
      expect((await cancelRun(app, run.id)).status).toBe(200);
      return { run: await getRun(app, run.id), lease: undefined };
    }
    const r = await running(s);
    const body = status === 'succeeded' ? { status, output: {} } : { status, error: { code: 'boom', message: 'Boom.' } };
    const done = await complete(s.rc, r.claim.lease.id, { fencingToken: r.claim.lease.fencingToken, ...body });
    expect(done.status).toBe(200);
    return { run: done.body, lease: r.claim.lease };
  }

  async function expectUnchanged(run: Run, events: RunEvent[]) {
    expect(await getRun(app, run.id)).toEqual(run);
    expect(await runEvents(app, run.id)).toEqual(events);
  }

  for (const status of ['succeeded', 'failed', 'cancelled'] as const) {
    it(`cancel and resume of a ${status} run`, async () => {
      const s = await scenario();
      const { run } = await terminal(s, status);
      const events = await runEvents(app, run.id);
      expectInvalidTransition(await cancelRun(app, run.id), status);
      expectInvalidTransition(await resumeRun(app, run.id, { approved: true }), status);
      await expectUnchanged(run, events);
    });
  }

  for (const status of ['succeeded', 'failed'] as const) {
    it(`every write of the runner after it completed the run (${status}) is 409 lease-lost naming ${status}`, async () => {
      const s = await scenario();
      const { run, lease } = await terminal(s, status);
      const events = await runEvents(app, run.id);
      expectLeaseLost(await heartbeat(s.rc, lease!.id, lease!.fencingToken), status);
      expectLeaseLost(await appendEvents(s.rc, lease!.id, lease!.fencingToken, [{ runnerSeq: 1, type: 'log', data: { message: 'late' } }]), status);
      expectLeaseLost(await complete(s.rc, lease!.id, { fencingToken: lease!.fencingToken, status: 'succeeded', output: { again: true } }), status);
      expectLeaseLost(await complete(s.rc, lease!.id, { fencingToken: lease!.fencingToken, status: 'failed', error: { code: 'x', message: 'y' } }), status);
      expectLeaseLost(await waitRun(s.rc, lease!.id, lease!.fencingToken), status);
      await expectUnchanged(run, events);
    });
  }

  it('resume of a queued run', async () => {
    const s = await scenario();
    const { run, events } = await queued(s);
    expectInvalidTransition(await resumeRun(app, run.id, { approved: true }), 'queued');
    await expectUnchanged(run, events);
    // It is still claimable, as a queued run.
    expect((await claim(s.rc, s.runner.id)).run.id).toBe(run.id);
  });

  it('resume of a running run', async () => {
    const s = await scenario();
    const r = await running(s);
    const before = await getRun(app, r.run.id);
    expectInvalidTransition(await resumeRun(app, r.run.id), 'running');
    await expectUnchanged(before, r.events);
  });

  it('wait of a waiting run', async () => {
    const s = await scenario();
    const r = await waiting(s);
    const before = await getRun(app, r.run.id);
    expectInvalidTransition(await waitRun(s.rc, r.claim.lease.id, r.claim.lease.fencingToken), 'waiting');
    await expectUnchanged(before, r.events);
  });

  it('complete succeeded of a waiting run (only a running run succeeds)', async () => {
    const s = await scenario();
    const r = await waiting(s);
    const before = await getRun(app, r.run.id);
    expectInvalidTransition(await complete(s.rc, r.claim.lease.id, { fencingToken: r.claim.lease.fencingToken, status: 'succeeded', output: {} }), 'waiting');
    await expectUnchanged(before, r.events);
  });

  it('a run is completed exactly once: a second complete is 409 and changes nothing', async () => {
    const s = await scenario();
    const r = await running(s);
    const { lease } = r.claim;
    const first = await complete(s.rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: { n: 1 } });
    expect(first.status).toBe(200);
    const events = await runEvents(app, r.run.id);
    expectLeaseLost(await complete(s.rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: { n: 2 } }), 'succeeded');
    await expectUnchanged(first.body, events);
  });

  it('an unknown run is 404 for cancel and resume', async () => {
    const absent = 'run_01jd4x7p2kf8q6v3b9m5t0s1ab';
    expect((await cancelRun(app, absent)).status).toBe(404);
    expect((await resumeRun(app, absent)).status).toBe(404);
    expect((await call(app, 'GET', `/api/v1/runs/${absent}/events`)).status).toBe(404);
  });
});
