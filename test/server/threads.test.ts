import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { call, expectProblem, isolatedApp, newAgent, type Conn } from './run-helpers.js';

type Thread = components['schemas']['Thread'];
type ThreadMessage = components['schemas']['ThreadMessage'];
type MessageList = components['schemas']['ThreadMessageList'];

let conn: Conn;
let agentId: string;

beforeAll(async () => {
  const app = await isolatedApp('threads');
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  agentId = (await newAgent(conn)).id;
});

const text = (role: ThreadMessage['role'], value: string) => ({ role, content: [{ type: 'text' as const, text: value }] });
const newThread = async (body: Record<string, unknown> = {}) => {
  const r = await call<Thread>(conn, 'POST', '/api/v1/threads', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r;
};
const messages = async (threadId: string, query = '') => (await call<MessageList>(conn, 'GET', `/api/v1/threads/${threadId}/messages${query}`)).body;

describe('a thread', () => {
  it('is created with its agent, title, metadata, state and first messages, numbered from 1', async () => {
    const made = await newThread({
      agentId,
      title: 'Order 4821',
      metadata: { channel: 'web' },
      state: { orderId: '4821', items: [1, 2] },
      messages: [
        text('system', 'Be brief.'),
        text('user', 'Where is my order?'),
        {
          role: 'assistant',
          content: [
            { type: 'tool_call', id: 'call_1', name: 'lookup_order', arguments: { orderId: '4821' } },
            { type: 'text', text: 'Looking.' },
          ],
        },
        { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', content: '{"shipped":true}' }] },
      ],
    });
    const thread = made.body;
    expect(thread).toMatchObject({
      object: 'thread',
      agentId,
      endUserId: null,
      title: 'Order 4821',
      metadata: { channel: 'web' },
      state: { orderId: '4821', items: [1, 2] },
      stateVersion: 0,
      messageCount: 4,
    });
    expect(made.headers.get('location')).toBe(`/api/v1/threads/${thread.id}`);
    expect(thread.lastMessageAt).toBe(thread.updatedAt);
    const got = await call<Thread>(conn, 'GET', `/api/v1/threads/${thread.id}`);
    expect(got.body).toEqual(thread);
    expect(got.headers.get('etag')).toBeTruthy();
    const page = await messages(thread.id);
    expect(page.data.map((m) => [m.seq, m.role, m.content[0]!.type])).toEqual([
      [1, 'system', 'text'],
      [2, 'user', 'text'],
      [3, 'assistant', 'tool_call'],
      [4, 'tool', 'tool_result'],
    ]);
    expect(page.data[0]).toMatchObject({ object: 'thread_message', threadId: thread.id, runId: null, metadata: {} });
  });

  it('is empty by default; an unknown agent is 404; a malformed message part is 422 naming it', async () => {
    const empty = (await newThread()).body;
    expect(empty).toMatchObject({ agentId: null, title: null, metadata: {}, state: {}, messageCount: 0, lastMessageAt: null });
    expectProblem(await call(conn, 'POST', '/api/v1/threads', { agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab' }), 404, 'not-found');
    const bad = expectProblem(
      await call(conn, 'POST', `/api/v1/threads/${empty.id}/messages`, { messages: [{ role: 'user', content: [{ type: 'text' }] }] }),
      422,
      'validation-error',
    );
    expect(bad.errors!.map((e) => e.pointer).join(' ')).toContain('/messages/0/content/0');
    expectProblem(
      await call(conn, 'POST', `/api/v1/threads/${empty.id}/messages`, { messages: [{ role: 'robot', content: [{ type: 'text', text: 'x' }] }] }),
      422,
      'validation-error',
    );
    expectProblem(await call(conn, 'POST', `/api/v1/threads/${empty.id}/messages`, { messages: [text('user', 'x')], extra: 1 }), 422, 'validation-error');
    expect((await messages(empty.id)).data).toEqual([]);
  });
});

describe('messages', () => {
  it('are numbered without gaps when 20 appends race, each batch contiguous and in its order', async () => {
    const thread = (await newThread()).body;
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call<{ data: ThreadMessage[] }>(conn, 'POST', `/api/v1/threads/${thread.id}/messages`, {
          messages: [text('user', `batch ${i} first`), text('assistant', `batch ${i} second`)],
        }),
      ),
    );
    for (const r of replies) {
      expect(r.status).toBe(201);
      const [first, second] = r.body.data;
      expect(second!.seq).toBe(first!.seq + 1);
      expect(second!.content[0]).toEqual({ type: 'text', text: (first!.content[0] as { text: string }).text.replace('first', 'second') });
    }
    const all = await messages(thread.id, '?limit=1000');
    expect(all.data.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await call<Thread>(conn, 'GET', `/api/v1/threads/${thread.id}`)).body.messageCount).toBe(40);
  });

  it('are read page by page after a seq, the last page saying so', async () => {
    const thread = (await newThread({ messages: Array.from({ length: 7 }, (_, i) => text('user', `m${i + 1}`)) })).body;
    const first = await messages(thread.id, '?limit=3');
    expect(first).toMatchObject({ hasMore: true, nextAfter: 3 });
    const second = await messages(thread.id, `?after=${first.nextAfter}&limit=3`);
    expect(second.data.map((m) => m.seq)).toEqual([4, 5, 6]);
    const last = await messages(thread.id, `?after=${second.nextAfter}&limit=3`);
    expect(last).toMatchObject({ hasMore: false, nextAfter: null });
    expect(last.data.map((m) => (m.content[0] as { text: string }).text)).toEqual(['m7']);
    expect((await messages(thread.id, '?after=7')).data).toEqual([]);
  });
});

describe('updating a thread', () => {
  it('merges title, agent and metadata; replaces the state as a whole and grows its version; If-Match refuses a stale change', async () => {
    const made = await newThread({ title: 'Before', metadata: { a: '1', b: '2' }, state: { step: 1, keep: 'me' } });
    const etag = made.headers.get('etag')!;
    const patched = await call<Thread>(
      conn,
      'PATCH',
      `/api/v1/threads/${made.body.id}`,
      { title: 'After', agentId, metadata: { b: null, c: '3' } },
      { 'If-Match': etag },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'After', agentId, metadata: { a: '1', c: '3' }, state: { step: 1, keep: 'me' }, stateVersion: 0 });

    const stale = await call(conn, 'PATCH', `/api/v1/threads/${made.body.id}`, { state: { step: 2 } }, { 'If-Match': etag });
    expectProblem(stale, 412, 'precondition-failed');
    const replaced = await call<Thread>(conn, 'PATCH', `/api/v1/threads/${made.body.id}`, { state: { step: 2 } }, { 'If-Match': patched.headers.get('etag')! });
    expect(replaced.body).toMatchObject({ state: { step: 2 }, stateVersion: 1 });
    const cleared = await call<Thread>(conn, 'PATCH', `/api/v1/threads/${made.body.id}`, { title: null, agentId: null });
    expect(cleared.body).toMatchObject({ title: null, agentId: null, stateVersion: 1 });
    expectProblem(await call(conn, 'PATCH', `/api/v1/threads/${made.body.id}`, {}), 422, 'validation-error');
  });
});

describe('copying a thread', () => {
  it('copies its agent, metadata, state and messages (all, or up to a seq), numbered as they were, state version 0', async () => {
    const source = (
      await newThread({
        agentId,
        title: 'Source',
        metadata: { k: 'v' },
        state: { s: 1 },
        messages: [text('user', 'one'), text('assistant', 'two'), text('user', 'three')],
      })
    ).body;
    await call(conn, 'PATCH', `/api/v1/threads/${source.id}`, { state: { s: 2 } });
    const whole = await call<Thread>(conn, 'POST', `/api/v1/threads/${source.id}/copy`, {});
    expect(whole.status).toBe(201);
    expect(whole.body).toMatchObject({ agentId, title: 'Source', metadata: { k: 'v' }, state: { s: 2 }, stateVersion: 0, messageCount: 3 });
    expect(whole.body.id).not.toBe(source.id);
    const branch = (await call<Thread>(conn, 'POST', `/api/v1/threads/${source.id}/copy`, { upToSeq: 1, title: 'Branch' })).body;
    expect(branch).toMatchObject({ title: 'Branch', messageCount: 1 });
    expect((await messages(branch.id)).data.map((m) => [m.seq, (m.content[0] as { text: string }).text])).toEqual([[1, 'one']]);
    // The branch goes on from its own last message; the source is untouched.
    const added = await call<{ data: ThreadMessage[] }>(conn, 'POST', `/api/v1/threads/${branch.id}/messages`, { messages: [text('user', 'other two')] });
    expect(added.body.data[0]!.seq).toBe(2);
    expect((await messages(source.id)).data).toHaveLength(3);
    const tooFar = expectProblem(await call(conn, 'POST', `/api/v1/threads/${source.id}/copy`, { upToSeq: 4 }), 422, 'validation-error');
    expect(tooFar.errors!.map((e) => e.pointer)).toEqual(['/upToSeq']);
  });
});

describe('the audit log', () => {
  it("records each change to a thread under the thread's id, message appends included", async () => {
    const thread = (await newThread({ title: 'Audited' })).body;
    await call(conn, 'POST', `/api/v1/threads/${thread.id}/messages`, { messages: [text('user', 'hello')] });
    await call(conn, 'PATCH', `/api/v1/threads/${thread.id}`, { state: { seen: true } });
    const events = await call<{ data: { action: string; resource: { type: string; id: string } }[] }>(
      conn,
      'GET',
      `/api/v1/audit-events?resourceId=${thread.id}`,
    );
    expect(events.body.data.map((e) => [e.action, e.resource.type, e.resource.id])).toEqual([
      ['thread.update', 'thread', thread.id],
      ['thread.append_messages', 'thread', thread.id],
      ['thread.create', 'thread', thread.id],
    ]);
  });
});

describe('deleting a thread', () => {
  it('removes it and its messages; a second delete is 404', async () => {
    const thread = (await newThread({ messages: [text('user', 'bye')] })).body;
    expect((await call(conn, 'DELETE', `/api/v1/threads/${thread.id}`)).status).toBe(204);
    expectProblem(await call(conn, 'GET', `/api/v1/threads/${thread.id}`), 404, 'not-found');
    expectProblem(await call(conn, 'GET', `/api/v1/threads/${thread.id}/messages`), 404, 'not-found');
    expectProblem(await call(conn, 'DELETE', `/api/v1/threads/${thread.id}`), 404, 'not-found');
  });
});

describe('lists', () => {
  it('filter by agent and sort by the last change', async () => {
    const other = await newAgent(conn);
    const a = (await newThread({ agentId: other.id, title: 'a' })).body;
    const b = (await newThread({ agentId: other.id, title: 'b' })).body;
    await call(conn, 'POST', `/api/v1/threads/${a.id}/messages`, { messages: [text('user', 'bump')] });
    const listed = await call<{ data: Thread[] }>(conn, 'GET', `/api/v1/threads?agentId=${other.id}&sort=-updatedAt`);
    expect(listed.body.data.map((t) => t.id)).toEqual([a.id, b.id]);
    const byCreation = await call<{ data: Thread[] }>(conn, 'GET', `/api/v1/threads?agentId=${other.id}&sort=createdAt`);
    expect(byCreation.body.data.map((t) => t.id)).toEqual([a.id, b.id].sort());
  });
});

describe('end-users', () => {
  it("a thread made for an end-user is theirs: another end-user's requests do not find it, and lists hold their own only", async () => {
    const alice = { 'Switchboard-User': `alice-${Date.now()}` };
    const bob = { 'Switchboard-User': `bob-${Date.now()}` };
    const hers = await call<Thread>(conn, 'POST', '/api/v1/threads', { title: 'Alice' }, alice);
    expect(hers.status).toBe(201);
    expect(hers.body.endUserId).toMatch(/^eu_/);
    expectProblem(await call(conn, 'GET', `/api/v1/threads/${hers.body.id}`, undefined, bob), 404, 'not-found');
    expectProblem(await call(conn, 'POST', `/api/v1/threads/${hers.body.id}/messages`, { messages: [text('user', 'x')] }, bob), 404, 'not-found');
    expect((await call(conn, 'GET', `/api/v1/threads/${hers.body.id}`, undefined, alice)).status).toBe(200);
    const bobs = await call<{ data: Thread[] }>(conn, 'GET', '/api/v1/threads?pageSize=100', undefined, bob);
    expect(bobs.body.data).toEqual([]);
    // A copy stays hers.
    const copy = await call<Thread>(conn, 'POST', `/api/v1/threads/${hers.body.id}/copy`, {}, alice);
    expect(copy.body.endUserId).toBe(hers.body.endUserId);
    // The application itself (no Switchboard-User) sees every thread.
    expect((await call(conn, 'GET', `/api/v1/threads/${hers.body.id}`)).status).toBe(200);
    // A run on her thread is hers, whoever starts it; bob cannot start one.
    expectProblem(await call(conn, 'POST', `/api/v1/threads/${hers.body.id}/runs`, { agentId }, bob), 404, 'not-found');
    const run = await call<{ id: string; endUserId: string }>(conn, 'POST', `/api/v1/threads/${hers.body.id}/runs`, { agentId });
    expect(run.body.endUserId).toBe(hers.body.endUserId);
    expect((await call(conn, 'GET', `/api/v1/runs/${run.body.id}`, undefined, alice)).status).toBe(200);
    await call(conn, 'POST', `/api/v1/runs/${run.body.id}/cancel`);
  });
});
