import { beforeAll, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../support/client.js';
import {
  absent,
  appendEvents,
  call,
  cancelRun,
  claim,
  claimReq,
  complete,
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
  runEvents,
  runnerConn,
  RUNNER_ID,
  RUNNER_TOKEN,
  waitRun,
  type Conn,
  type EventIn,
  type Problem,
  type Runner,
  type RunnerWithToken,
} from './run-helpers.js';

let app: Conn;
let other: Conn;

beforeAll(async () => {
  app = { baseUrl: inject('auditUrl'), key: (await isolatedApp('runners')).key };
  other = { baseUrl: inject('auditUrl'), key: (await isolatedApp('runners other')).key };
});

type RunnerList = { data: Runner[]; pagination: { page: number; pageSize: number; total: number; totalPages: number } };

async function scenario() {
  const l = label();
  const agent = await newAgent(app, { labels: [l] });
  const runner = await newRunner(app, [l]);
  return { l, agent, runner, rc: runnerConn(inject('auditUrl'), runner) };
}

describe('register, get, list, delete', () => {
  it('registers a runner: 201, Location, the sbr_ token shown once', async () => {
    const name = uniqueName('worker');
    const labels = ['gpu', 'region:eu'];
    const res = await call<RunnerWithToken>(app, 'POST', '/api/v1/runners', { name, labels });
    expect(res.status).toBe(201);
    const runner = res.body;
    expect(runner).toEqual({
      id: expect.stringMatching(RUNNER_ID),
      object: 'runner',
      name,
      labels,
      lastSeenAt: null,
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: expect.stringMatching(ISO_MS),
      token: expect.stringMatching(RUNNER_TOKEN),
    });
    expect(res.headers.get('location')).toBe(`/api/v1/runners/${runner.id}`);

    const got = await call<Runner>(app, 'GET', `/api/v1/runners/${runner.id}`);
    expect(got.status).toBe(200);
    const { token: _token, ...withoutToken } = runner;
    expect(got.body).toEqual(withoutToken);
    expect(JSON.stringify(got.body)).not.toContain(runner.token);

    const listed = await call<RunnerList>(app, 'GET', '/api/v1/runners?pageSize=100');
    expect(listed.status).toBe(200);
    const entry = listed.body.data.find((r) => r.id === runner.id);
    expect(entry).toEqual(withoutToken);
    expect(JSON.stringify(listed.body)).not.toContain('sbr_');

    // Using the token records lastSeenAt.
    expect((await claimReq(runnerConn(app.baseUrl, runner), runner.id)).status).toBe(204);
    const seen = await call<Runner>(app, 'GET', `/api/v1/runners/${runner.id}`);
    expect(seen.body.lastSeenAt).toMatch(ISO_MS);
  });

  it('defaults to no labels; validates names and labels (422)', async () => {
    const res = await call<RunnerWithToken>(app, 'POST', '/api/v1/runners', { name: uniqueName('bare') });
    expect(res.status).toBe(201);
    expect(res.body.labels).toEqual([]);
    for (const body of [{ name: '' }, { name: 'x', labels: ['UPPER'] }, { name: 'x', labels: ['a', 'a'] }, { labels: [] }, { name: 'x', token: 'sbr_mine' }]) {
      expectProblem(await call(app, 'POST', '/api/v1/runners', body), 422, 'validation-error');
    }
  });

  it('lists runners that have a label (label filter), newest first', async () => {
    const l = label();
    const a = await newRunner(app, [l, 'other']);
    const b = await newRunner(app, ['other']);
    const c = await newRunner(app, [`${l}x`]);
    const d = await newRunner(app, [l]);
    const res = await call<RunnerList>(app, 'GET', `/api/v1/runners?label=${l}&pageSize=100`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((r) => r.id)).toEqual([d.id, a.id]);
    expect(res.body.pagination.total).toBe(2);
    expect(res.body.data.every((r) => r.labels.includes(l))).toBe(true);
    expect([b.id, c.id].some((id) => res.body.data.some((r) => r.id === id))).toBe(false);
  });

  it('the label filter matches the label exactly, even with "_" in it', async () => {
    const t = label();
    const dashed = await newRunner(app, [`${t}-a`]);
    const underscored = await newRunner(app, [`${t}_a`]);
    const res = await call<RunnerList>(app, 'GET', `/api/v1/runners?label=${t}_a&pageSize=100`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((r) => r.id)).toEqual([underscored.id]);
    expect(res.body.data.map((r) => r.id)).not.toContain(dashed.id);
  });

  it("another application's runner is 404; the list does not show it", async () => {
    const r = await newRunner(app, []);
    expectProblem(await call(other, 'GET', `/api/v1/runners/${r.id}`), 404, 'not-found');
    expectProblem(await call(other, 'DELETE', `/api/v1/runners/${r.id}`), 404, 'not-found');
    const listed = await call<RunnerList>(other, 'GET', '/api/v1/runners?pageSize=100');
    expect(listed.body.data.map((x) => x.id)).not.toContain(r.id);
    expect((await call(app, 'GET', `/api/v1/runners/${r.id}`)).status).toBe(200);
    expectProblem(await call(app, 'GET', `/api/v1/runners/${absent('runner')}`), 404, 'not-found');
  });

  it('deletes a runner (204); its token stops working at once (401)', async () => {
    const runner = await newRunner(app, [label()]);
    const rc = runnerConn(app.baseUrl, runner);
    expect((await claimReq(rc, runner.id)).status).toBe(204);
    const del = await call(app, 'DELETE', `/api/v1/runners/${runner.id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expectProblem(await claimReq(rc, runner.id), 401, 'unauthorized');
    expectProblem(await heartbeat(rc, absent('lease'), 1), 401, 'unauthorized');
    expectProblem(await call(app, 'GET', `/api/v1/runners/${runner.id}`), 404, 'not-found');
    expectProblem(await call(app, 'DELETE', `/api/v1/runners/${runner.id}`), 404, 'not-found');
  });
});

describe('credentials', () => {
  it('a runner token may call only the runner operations (401 elsewhere)', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    for (const [method, path, body] of [
      ['GET', '/api/v1/agents', undefined],
      ['GET', `/api/v1/agents/${agent.id}`, undefined],
      ['GET', '/api/v1/runs', undefined],
      ['POST', '/api/v1/runs', { agentId: agent.id }],
      ['GET', `/api/v1/runs/${run.id}`, undefined],
      ['POST', `/api/v1/runs/${run.id}/cancel`, undefined],
      ['GET', `/api/v1/runs/${run.id}/events`, undefined],
      ['GET', '/api/v1/runners', undefined],
      ['POST', '/api/v1/runners', { name: 'sneaky' }],
      ['GET', `/api/v1/runners/${runner.id}`, undefined],
      ['DELETE', `/api/v1/runners/${runner.id}`, undefined],
      ['GET', '/api/v1/api-keys', undefined],
      ['GET', '/api/v1/organization', undefined],
      ['GET', `/api/v1/realtime/runs/${run.id}`, undefined],
    ] as const) {
      expectProblem(await call(rc, method, path, body), 401, 'unauthorized');
    }
    // Its own operations work.
    const c = await claim(rc, runner.id);
    expect(c.run.id).toBe(run.id);
    expect((await heartbeat(rc, c.lease.id, c.lease.fencingToken)).status).toBe(200);
    expect((await getRun(app, run.id)).status).toBe('running');
    expect((await call(app, 'GET', `/api/v1/runners/${runner.id}`)).status).toBe(200);
  });

  it('an application key cannot call the runner operations (401)', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    expectProblem(await claimReq(app, runner.id), 401, 'unauthorized');
    expect((await getRun(app, run.id)).status).toBe('queued');
    const c = await claim(rc, runner.id);
    const { lease } = c;
    expectProblem(await heartbeat(app, lease.id, lease.fencingToken), 401, 'unauthorized');
    expectProblem(await appendEvents(app, lease.id, lease.fencingToken, logs(1, 1)), 401, 'unauthorized');
    expectProblem(await waitRun(app, lease.id, lease.fencingToken), 401, 'unauthorized');
    expectProblem(await complete(app, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} }), 401, 'unauthorized');
    expect((await getRun(app, run.id)).status).toBe('running');
    expect((await runEvents(app, run.id)).length).toBe(2);
    // A made-up runner token is 401 too.
    expectProblem(await claimReq({ baseUrl: app.baseUrl, key: `sbr_${'A'.repeat(43)}` }, runner.id), 401, 'unauthorized');
  });

  it("a runner claiming with another runner's id is 403; another runner's lease is 403", async () => {
    const { l, agent, runner, rc } = await scenario();
    const intruder = await newRunner(app, [l]);
    const ic = runnerConn(app.baseUrl, intruder);
    const run = await newRun(app, agent.id);
    expectProblem(await claimReq(ic, runner.id), 403, 'forbidden');
    expect((await getRun(app, run.id)).status).toBe('queued');
    const c = await claim(rc, runner.id);
    const { lease } = c;
    expectProblem(await heartbeat(ic, lease.id, lease.fencingToken), 403, 'forbidden');
    expectProblem(await appendEvents(ic, lease.id, lease.fencingToken, logs(1, 1)), 403, 'forbidden');
    expectProblem(await complete(ic, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} }), 403, 'forbidden');
    expect((await getRun(app, run.id)).status).toBe('running');
    expect((await runEvents(app, run.id)).length).toBe(2);
    // A runner of another application is 403 on this runner id as well, and cannot touch the lease.
    const foreign = await newRunner(other, [l]);
    expectProblem(await claimReq(runnerConn(app.baseUrl, foreign), runner.id), 403, 'forbidden');
    // Its answer on this lease is the one a lease id that exists nowhere gets: nothing leaks.
    const fc = runnerConn(app.baseUrl, foreign);
    const foreignWrite = await heartbeat(fc, lease.id, lease.fencingToken);
    const nowhere = await heartbeat(fc, absent('lease'), lease.fencingToken);
    const nowhereProblem = expectProblem(nowhere, nowhere.status, (nowhere.body as unknown as Problem).code);
    expect([404, 409]).toContain(nowhere.status);
    const foreignProblem = expectProblem(foreignWrite, nowhere.status, nowhereProblem.code);
    expect(foreignProblem.detail).toBe(nowhereProblem.detail.replace(absent('lease'), lease.id));
    expect((await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
  });
});

describe('events from runners', () => {
  it('refuses the reserved types status and run.* (422) and stores nothing of the batch', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const { lease } = await claim(rc, runner.id);
    for (const type of ['status', 'run.succeeded', 'run.anything']) {
      const res = await appendEvents(rc, lease.id, lease.fencingToken, [
        { runnerSeq: 1, type: 'log', data: { message: 'fine' } },
        { runnerSeq: 2, type, data: { status: 'succeeded' } },
      ]);
      const p = expectProblem(res, 422, 'validation-error');
      expect(p.errors!.map((e) => e.pointer)).toEqual(['/events/1/type']);
    }
    expect((await runEvents(app, run.id)).map((e) => e.type)).toEqual(['status', 'status']);
    expect((await getRun(app, run.id)).status).toBe('running');
    // Types that merely start with "run" or contain "status" are fine.
    const ok = await appendEvents(rc, lease.id, lease.fencingToken, [
      { runnerSeq: 1, type: 'runner.note' },
      { runnerSeq: 2, type: 'status_report' },
      { runnerSeq: 3, type: 'tool.status' },
    ]);
    expect(ok.status).toBe(200);
    expect(ok.body.accepted).toBe(3);
  });

  it("checks the data of the spec's event types (log, output.delta, usage) (422 naming the field); a runner's own types are free-form", async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const { lease } = await claim(rc, runner.id);
    const bad: [EventIn, string][] = [
      [{ runnerSeq: 1, type: 'log' }, '/events/0/data'],
      [{ runnerSeq: 1, type: 'log', data: { level: 'info' } }, '/events/0/data/message'],
      [{ runnerSeq: 1, type: 'log', data: { level: 'loud', message: 'x' } }, '/events/0/data/level'],
      [{ runnerSeq: 1, type: 'log', data: { message: 42 } }, '/events/0/data/message'],
      [{ runnerSeq: 1, type: 'output.delta', data: { text: ['a'] } }, '/events/0/data/text'],
      [{ runnerSeq: 1, type: 'usage', data: { inputTokens: -1 } }, '/events/0/data/inputTokens'],
    ];
    for (const [event, pointer] of bad) {
      const p = expectProblem(await appendEvents(rc, lease.id, lease.fencingToken, [event]), 422, 'validation-error');
      expect(p.errors!.map((e) => e.pointer)).toContain(pointer);
    }
    expect((await runEvents(app, run.id)).map((e) => e.type)).toEqual(['status', 'status']);

    const good: EventIn[] = [
      { runnerSeq: 1, type: 'log', data: { message: 'hello', level: 'warn', step: 3 } },
      { runnerSeq: 2, type: 'output.delta', data: { text: 'Hel' } },
      { runnerSeq: 3, type: 'output.delta', data: { delta: { answer: [1, { deep: true }] } } },
      { runnerSeq: 4, type: 'usage', data: { inputTokens: 10, outputTokens: 2, costMicros: 7, model: 'echo' } },
      { runnerSeq: 5, type: 'tool.call', data: { name: 'search', arguments: { q: 'x' } } },
      { runnerSeq: 6, type: 'review.requested' },
    ];
    const ok = await appendEvents(rc, lease.id, lease.fencingToken, good);
    expect(ok.status).toBe(200);
    expect(ok.body.accepted).toBe(6);
    // Read back through the spec's union (the server validates its responses against it).
    const stored = (await runEvents(app, run.id)).slice(2);
    expect(stored.map((e) => [e.type, e.data])).toEqual(good.map((e) => [e.type, e.data ?? {}]));
  });

  it('a retried batch (same runnerSeq) is not stored twice; stored seq are 1..n in order', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const { lease } = await claim(rc, runner.id);
    const first = await appendEvents(rc, lease.id, lease.fencingToken, logs(1, 3));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ object: 'run_event_batch', accepted: 3, duplicates: 0 });
    expect(first.body.events.map((e) => [e.seq, e.type === 'log' && e.data.message])).toEqual([
      [3, 'line 1'],
      [4, 'line 2'],
      [5, 'line 3'],
    ]);

    // The same batch again (its response was lost): nothing new is stored, the stored events come back.
    const retry = await appendEvents(rc, lease.id, lease.fencingToken, logs(1, 3));
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(retry.body.events).toEqual(first.body.events);

    // A batch overlapping the last one: only the new ones are stored.
    const overlap = await appendEvents(rc, lease.id, lease.fencingToken, logs(2, 4));
    expect(overlap.status).toBe(200);
    expect(overlap.body).toMatchObject({ accepted: 2, duplicates: 2 });
    expect(overlap.body.events.map((e) => [e.seq, e.type === 'log' && e.data.message])).toEqual([
      [4, 'line 2'],
      [5, 'line 3'],
      [6, 'line 4'],
      [7, 'line 5'],
    ]);

    // Duplicates within one batch are stored once.
    const twice = await appendEvents(rc, lease.id, lease.fencingToken, [...logs(6, 1), ...logs(6, 1)]);
    expect(twice.status).toBe(200);
    expect(twice.body.accepted).toBe(1);

    const events = await runEvents(app, run.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.slice(2).map((e) => e.type === 'log' && e.data.message)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    expect(new Set(events.map((e) => e.id)).size).toBe(8);
  });

  it('complete failed without an error is 422, and the run keeps running', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const { lease } = await claim(rc, runner.id);
    const res = await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'failed' });
    const p = expectProblem(res, 422, 'validation-error');
    expect(p.errors!.map((e) => e.pointer)).toContain('/error');
    expect((await getRun(app, run.id)).status).toBe('running');
    expect((await runEvents(app, run.id)).length).toBe(2);
    expectProblem(await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'cancelled' }), 422, 'validation-error');
    expect((await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'failed', error: { code: 'e', message: 'm' } })).status).toBe(200);
  });
});

describe('deleting a runner', () => {
  it('re-queues its running run (attempt 2) for another runner', async () => {
    const { l, agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const first = await claim(rc, runner.id);
    expect(first.lease.fencingToken).toBe(1);
    expect((await call(app, 'DELETE', `/api/v1/runners/${runner.id}`)).status).toBe(204);

    const requeued = await getRun(app, run.id);
    expect(requeued).toMatchObject({ status: 'queued', attempt: 2, finishedAt: null });
    const events = await runEvents(app, run.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[2]).toMatchObject({ type: 'status', data: { status: 'queued', previousStatus: 'running', attempt: 2 } });

    const next = await newRunner(app, [l]);
    const second = await claim(runnerConn(app.baseUrl, next), next.id);
    expect(second.run).toMatchObject({ id: run.id, status: 'running', attempt: 2 });
    expect(second.lease.fencingToken).toBe(2);
    expect(second.lease.id).not.toBe(first.lease.id);
    expect((await complete(runnerConn(app.baseUrl, next), second.lease.id, { fencingToken: 2, status: 'succeeded', output: { ok: true } })).status).toBe(200);
    expect(await getRun(app, run.id)).toMatchObject({ status: 'succeeded', attempt: 2, output: { ok: true } });
  });

  it('re-queues a waiting run too; a queued run of the same agent is left alone', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const c = await claim(rc, runner.id);
    expect((await waitRun(rc, c.lease.id, c.lease.fencingToken)).status).toBe(200);
    const other = await newRun(app, agent.id);
    expect((await call(app, 'DELETE', `/api/v1/runners/${runner.id}`)).status).toBe(204);
    expect(await getRun(app, run.id)).toMatchObject({ status: 'queued', attempt: 2, requiredAction: null });
    // Unchanged, but for its dispatch: the agent's only runner is gone.
    const { dispatch: before, ...unchanged } = other;
    expect(await getRun(app, other.id)).toEqual({
      ...unchanged,
      dispatch: {
        ...before,
        claimable: false,
        reason: expect.stringMatching(/^no_/),
        message: expect.any(String),
        unmatchedLabels: before!.requiredLabels,
        onlineRunners: expect.any(Number),
        matchingRunners: 0,
      },
    });
    // Re-queued, and what it asked is cancelled: nobody decides for a run that lost its runner.
    const [status, cancelled] = (await runEvents(app, run.id)).slice(-2);
    expect(status!.data).toMatchObject({ status: 'queued', previousStatus: 'waiting' });
    expect(cancelled).toMatchObject({ type: 'approval.cancelled', data: { status: 'cancelled' } });
    for (const r of [run, other]) await cancelRun(app, r.id);
  });
});
