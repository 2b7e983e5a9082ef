import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import {
  call,
  cancelRun,
  claim,
  claimReq,
  complete,
  expectLeaseLost,
  expectProblem,
  getRun,
  heartbeat,
  isolatedApp,
  label,
  newAgent,
  newRunner,
  appendEvents,
  bearer,
  logs,
  runEvents,
  SseStream,
  runnerConn,
  waitRun,
  type Conn,
  type Run,
  type RunnerWithToken,
} from './run-helpers.js';

type Thread = components['schemas']['Thread'];
type ThreadMessage = components['schemas']['ThreadMessage'];
type MessageList = components['schemas']['ThreadMessageList'];

let conn: Conn;
let runnerConnOf: (r: RunnerWithToken) => Conn;

beforeAll(async () => {
  const app = await isolatedApp('thread-runs');
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  runnerConnOf = (r) => runnerConn(conn.baseUrl, r);
});

const text = (role: ThreadMessage['role'], value: string) => ({ role, content: [{ type: 'text' as const, text: value }] });

/** A thread with an agent only a runner of its own (a label no other test uses) claims. */
async function setup() {
  const tag = label();
  const agent = await newAgent(conn, { labels: [tag] });
  const runner = await newRunner(conn, [tag]);
  const thread = (await call<Thread>(conn, 'POST', '/api/v1/threads', { agentId: agent.id })).body;
  return { agent, runner, rc: runnerConnOf(runner), thread };
}

const startRun = (threadId: string, body: Record<string, unknown> = {}) => call<Run>(conn, 'POST', `/api/v1/threads/${threadId}/runs`, body);
const getThread = async (id: string) => (await call<Thread>(conn, 'GET', `/api/v1/threads/${id}`)).body;
const messagesOf = async (id: string) => (await call<MessageList>(conn, 'GET', `/api/v1/threads/${id}/messages?limit=1000`)).body.data;
describe('a run on a thread', () => {
  it('starts with the thread agent, adds its messages when claimed and its answer when it completes', async () => {
    const { runner, rc, thread } = await setup();
    const started = await startRun(thread.id, { messages: [text('user', 'Where is my order?')], metadata: { channel: 'web' } });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({ status: 'queued', threadId: thread.id, agentId: thread.agentId, metadata: { channel: 'web' } });
    expect(started.headers.get('location')).toBe(`/api/v1/runs/${started.body.id}`);
    // Queued: its messages have not joined the thread yet.
    expect(await getThread(thread.id)).toMatchObject({ status: 'busy', lastRunId: started.body.id, messageCount: 0 });

    const claimed = await claim(rc, runner.id);
    expect(claimed.run.id).toBe(started.body.id);
    expect(claimed.thread).toMatchObject({ id: thread.id, state: {}, stateVersion: 0, hasEarlier: false });
    expect(claimed.thread!.messages.map((m) => [m.seq, m.role, m.runId])).toEqual([[1, 'user', started.body.id]]);

    const done = await complete(rc, claimed.lease.id, {
      fencingToken: claimed.lease.fencingToken,
      status: 'succeeded',
      output: { text: 'It shipped.' },
      messages: [
        { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'lookup', arguments: { id: '1' } }] },
        { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'c1', content: '{"shipped":true}' }] },
        text('assistant', 'It shipped.'),
      ],
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const all = await messagesOf(thread.id);
    expect(all.map((m) => [m.seq, m.role, m.runId])).toEqual([
      [1, 'user', started.body.id],
      [2, 'assistant', started.body.id],
      [3, 'tool', started.body.id],
      [4, 'assistant', started.body.id],
    ]);
    expect(await getThread(thread.id)).toMatchObject({ status: 'idle', messageCount: 4 });
    const listed = await call<{ data: Run[] }>(conn, 'GET', `/api/v1/runs?threadId=${thread.id}`);
    expect(listed.body.data.map((r) => r.id)).toEqual([started.body.id]);
  });

  it('adds nothing from a runner that lost its lease, and refuses messages for a run without a thread', async () => {
    const { agent, runner, rc, thread } = await setup();
    const run = (await startRun(thread.id)).body;
    const first = await claim(rc, runner.id);
    expect(first.run.id).toBe(run.id);
    expect(first.thread!.messages).toEqual([]);
    expectLeaseLost(
      await complete(rc, first.lease.id, { fencingToken: first.lease.fencingToken + 1, status: 'succeeded', messages: [text('assistant', 'stale')] }),
    );
    expect(await messagesOf(thread.id)).toEqual([]);
    await complete(rc, first.lease.id, { fencingToken: first.lease.fencingToken, status: 'succeeded' });

    const alone = await call<Run>(conn, 'POST', '/api/v1/runs', { agentId: agent.id });
    expect(alone.body.threadId).toBeNull();
    const c = await claim(rc, runner.id);
    expect(c.thread).toBeNull();
    const refused = await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', messages: [text('assistant', 'x')] });
    expect(expectProblem(refused, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/messages' })]);
    expect((await getRun(conn, c.run.id)).status).toBe('running');
  });

  it('needs an agent: the thread one or agentId, an active one', async () => {
    const thread = (await call<Thread>(conn, 'POST', '/api/v1/threads', {})).body;
    const none = await startRun(thread.id);
    expect(expectProblem(none, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/agentId' })]);
    const agent = await newAgent(conn);
    const other = await startRun(thread.id, { agentId: agent.id });
    expect(other.status).toBe(201);
    expect(other.body.agentId).toBe(agent.id);
    await cancelRun(conn, other.body.id);
    await call(conn, 'POST', `/api/v1/agents/${agent.id}/pause`);
    expectProblem(await startRun(thread.id, { agentId: agent.id }), 409, 'invalid-transition');
    expectProblem(await startRun('thread_01jd4x7p2kf8q6v3b9m5t0s1ab', { agentId: agent.id }), 404, 'not-found');
  });
});

describe('the multitask strategy of a busy thread', () => {
  it('enqueue: 20 runs requested at once run one at a time, in the order they were created, each after the answer before it', async () => {
    const { runner, rc, thread } = await setup();
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => startRun(thread.id, { messages: [text('user', `question ${i}`)], multitaskStrategy: 'enqueue' })),
    );
    for (const r of runs) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const byCreation = runs.map((r) => r.body).sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));

    const claimedOrder: string[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await claim(rc, runner.id);
      // The thread runs one run at a time: nothing else of it is claimable now.
      expect((await claimReq(rc, runner.id)).status).toBe(204);
      claimedOrder.push(c.run.id);
      const question = c.thread!.messages.at(-1)!;
      expect(question).toMatchObject({ role: 'user', runId: c.run.id });
      const asked = (question.content[0] as { text: string }).text;
      expect(
        (await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', messages: [text('assistant', `answer to ${asked}`)] }))
          .status,
      ).toBe(200);
    }
    expect(claimedOrder).toEqual(byCreation.map((r) => r.id));
    const all = await messagesOf(thread.id);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (let i = 0; i < 40; i += 2) {
      const q = (all[i]!.content[0] as { text: string }).text;
      expect(all[i]!.runId).toBe(all[i + 1]!.runId);
      expect((all[i + 1]!.content[0] as { text: string }).text).toBe(`answer to ${q}`);
    }
    expect(await getThread(thread.id)).toMatchObject({ status: 'idle', lastRunId: expect.any(String) });
  });

  it('reject: 409 thread-busy naming the active run while one is queued, running or waiting; accepted once the thread is idle', async () => {
    const { runner, rc, thread } = await setup();
    const first = (await startRun(thread.id)).body;
    const queued = expectProblem(await startRun(thread.id, { multitaskStrategy: 'reject' }), 409, 'thread-busy', first.id);
    expect(queued.activeRunId).toBe(first.id);
    const c = await claim(rc, runner.id);
    expect(expectProblem(await startRun(thread.id, { multitaskStrategy: 'reject' }), 409, 'thread-busy').activeRunId).toBe(first.id);
    expect((await waitRun(rc, c.lease.id, c.lease.fencingToken)).status).toBe(200);
    expect(await getThread(thread.id)).toMatchObject({ status: 'waiting' });
    expect(expectProblem(await startRun(thread.id, { multitaskStrategy: 'reject' }), 409, 'thread-busy').activeRunId).toBe(first.id);
    // Deleting a busy thread is refused the same way.
    expect(expectProblem(await call(conn, 'DELETE', `/api/v1/threads/${thread.id}`), 409, 'thread-busy').activeRunId).toBe(first.id);
    await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'failed', error: { code: 'boom', message: 'Boom.' } });
    expect(await getThread(thread.id)).toMatchObject({ status: 'error', lastRunId: first.id });
    const next = await startRun(thread.id, { multitaskStrategy: 'reject' });
    expect(next.status).toBe(201);
    await cancelRun(conn, next.body.id);
    expect(await getThread(thread.id)).toMatchObject({ status: 'idle' });
    expect((await call(conn, 'DELETE', `/api/v1/threads/${thread.id}`)).status).toBe(204);
    // The thread's runs stay, on no thread.
    expect((await getRun(conn, first.id)).threadId).toBeNull();
  });

  it('interrupt: cancels the running and queued runs as superseded, keeps their messages, and the new run starts at once', async () => {
    const { runner, rc, thread } = await setup();
    const first = (await startRun(thread.id, { messages: [text('user', 'first')] })).body;
    const c = await claim(rc, runner.id);
    const queued = (await startRun(thread.id, { messages: [text('user', 'second')] })).body;
    const third = await startRun(thread.id, { messages: [text('user', 'third')], multitaskStrategy: 'interrupt' });
    expect(third.status).toBe(201);
    for (const id of [first.id, queued.id]) {
      const run = await getRun(conn, id);
      expect(run).toMatchObject({ status: 'cancelled', error: { code: 'superseded' } });
      expect((await runEvents(conn, id)).at(-1)!.data).toMatchObject({ status: 'cancelled', supersededBy: third.body.id });
    }
    // The interrupted runner learns it at its next heartbeat.
    expectLeaseLost(await heartbeat(rc, c.lease.id, c.lease.fencingToken), 'cancelled');
    const next = await claim(rc, runner.id);
    expect(next.run.id).toBe(third.body.id);
    // The first run's message stays; the second never started, so its message never joined.
    expect(next.thread!.messages.map((m) => (m.content[0] as { text: string }).text)).toEqual(['first', 'third']);
    await complete(rc, next.lease.id, { fencingToken: next.lease.fencingToken, status: 'succeeded' });
  });

  it('keeps one active run per thread when claims race', async () => {
    const { agent, rc, runner, thread } = await setup();
    const tag = agent.labels[0]!;
    const others = await Promise.all([newRunner(conn, [tag]), newRunner(conn, [tag]), newRunner(conn, [tag])]);
    for (let i = 0; i < 5; i++) await startRun(thread.id, { messages: [text('user', `q${i}`)] });
    const claims = await Promise.all([runner, ...others].map((r) => claimReq(r === runner ? rc : runnerConnOf(r), r.id)));
    expect(claims.filter((r) => r.status === 200)).toHaveLength(1);
    const won = claims.find((r) => r.status === 200)!.body;
    expect((await claimReq(rc, runner.id)).status).toBe(204);
    const winner = [runner, ...others].find((r) => r.id === won.lease.runnerId)!;
    await complete(winner === runner ? rc : runnerConnOf(winner), won.lease.id, { fencingToken: won.lease.fencingToken, status: 'succeeded' });
    const next = await Promise.all([runner, ...others].map((r) => claimReq(r === runner ? rc : runnerConnOf(r), r.id)));
    expect(next.filter((r) => r.status === 200)).toHaveLength(1);
    const left = await call<{ data: Run[] }>(conn, 'GET', `/api/v1/runs?threadId=${thread.id}&status=queued`);
    expect(left.body.data).toHaveLength(3);
    const interrupting = await startRun(thread.id, { multitaskStrategy: 'interrupt' });
    await cancelRun(conn, interrupting.body.id);
  });
});

describe('threads by status', () => {
  it('lists the threads with a status', async () => {
    const { thread } = await setup();
    const idle = (await call<Thread>(conn, 'POST', '/api/v1/threads', {})).body;
    const run = (await startRun(thread.id)).body;
    const busy = await call<{ data: Thread[] }>(conn, 'GET', '/api/v1/threads?status=busy&pageSize=100');
    expect(busy.body.data.map((t) => t.id)).toContain(thread.id);
    expect(busy.body.data.map((t) => t.id)).not.toContain(idle.id);
    const idles = await call<{ data: Thread[] }>(conn, 'GET', '/api/v1/threads?status=idle&pageSize=100');
    expect(idles.body.data.map((t) => t.id)).toContain(idle.id);
    expect(idles.body.data.every((t) => t.status === 'idle')).toBe(true);
    await cancelRun(conn, run.id);
  });
});

describe('the thread stream', () => {
  const streamUrl = (threadId: string) => `${conn.baseUrl}/api/v1/realtime/threads/${threadId}`;

  it("carries every event of the thread's runs, run after run, thread messages included; resumed anywhere, it loses nothing", async () => {
    const { agent, runner, rc, thread } = await setup();
    const live = await SseStream.open(streamUrl(thread.id), bearer(conn.key));
    // Another thread's run and a run on no thread, in the same application, stay out of it.
    const other = (await call<Thread>(conn, 'POST', '/api/v1/threads', { agentId: agent.id })).body;
    const outsiders = [(await startRun(other.id)).body.id, (await call<Run>(conn, 'POST', '/api/v1/runs', { agentId: agent.id })).body.id];

    const runIds: string[] = [];
    for (let i = 0; i < 4; i++) runIds.push((await startRun(thread.id, { messages: [text('user', `q${i}`)] })).body.id);
    for (let i = 0; i < 6; i++) {
      const c = await claim(rc, runner.id);
      if (!runIds.includes(c.run.id)) {
        await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded' });
        continue;
      }
      expect((await appendEvents(rc, c.lease.id, c.lease.fencingToken, logs(1, 3))).status).toBe(200);
      await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', messages: [text('assistant', `a for ${c.run.id}`)] });
    }

    // Everything the runs stored, in the application's order.
    const stored = (await Promise.all(runIds.map((id) => runEvents(conn, id)))).flat().sort((a, b) => a.cursor - b.cursor);
    expect(stored.filter((e) => e.type === 'thread.message')).toHaveLength(8);
    await live.untilCount(stored.length);
    live.close();
    expect(live.messages.map((m) => Number(m.id))).toEqual(stored.map((e) => e.cursor));
    expect(live.messages.every((m) => runIds.includes(m.json.runId) && !outsiders.includes(m.json.runId))).toBe(true);
    expect(live.messages.map((m) => m.event)).toEqual(stored.map((e) => e.type));

    // The messages on the stream are the thread's, in order.
    const onStream = live.messages.filter((m) => m.event === 'thread.message').map((m) => (m.json.data as unknown as ThreadMessage).seq);
    expect(onStream).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await messagesOf(thread.id)).map((m) => m.runId)).toEqual(runIds.flatMap((id) => [id, id]));

    // Resumed at any point, the stream replays exactly what came after it.
    for (const cut of [0, 1, 7, Math.floor(stored.length / 2), stored.length - 2]) {
      const after = cut === 0 ? undefined : stored[cut - 1]!.cursor;
      const resumed = await SseStream.open(streamUrl(thread.id), { ...bearer(conn.key), ...(after ? { 'Last-Event-ID': String(after) } : {}) });
      await resumed.untilCount(stored.length - cut);
      resumed.close();
      expect(resumed.messages.map((m) => Number(m.id))).toEqual(stored.slice(cut).map((e) => e.cursor));
    }
  });

  it('is 404 for a thread the request does not see, and a runner may not forge thread.message events', async () => {
    const { runner, rc, thread } = await setup();
    const r = await fetch(streamUrl('thread_01jd4x7p2kf8q6v3b9m5t0s1ab'), { headers: bearer(conn.key) });
    expect(r.status).toBe(404);
    await startRun(thread.id);
    const c = await claim(rc, runner.id);
    const forged = await appendEvents(rc, c.lease.id, c.lease.fencingToken, [{ runnerSeq: 1, type: 'thread.message', data: { role: 'assistant' } }]);
    expect(expectProblem(forged, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/events/0/type' })]);
    await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded' });
  });
});
