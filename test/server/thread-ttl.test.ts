import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, expectProblem, newAgent, type Conn } from './run-helpers.js';

type Thread = components['schemas']['Thread'];
type Message = components['schemas']['WebhookMessage'];

/** A thread's time to live and its thread.* webhooks, on a server whose clock the test moves. */
let now = Date.parse('2026-12-05T10:00:00.000Z');
let running: InProcessServer;
let conn: Conn;
let endpointId: string;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now }, { WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' });
  conn = { baseUrl: running.baseUrl, key: running.adminKey };
  // Never delivered (the deliverer runs only when asked): its messages say what was sent.
  const endpoint = await call<{ id: string }>(conn, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['thread.*'] });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  endpointId = endpoint.body.id;
});
afterAll(() => running?.stop());

const later = (seconds: number) => (now += seconds * 1000);
const at = (seconds: number) => new Date(now + seconds * 1000).toISOString();
const getThread = (id: string) => call<Thread>(conn, 'GET', `/api/v1/threads/${id}`);
const sentFor = async (threadId: string) => {
  const r = await call<{ data: Message[] }>(conn, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=100`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data
    .filter((m) => (m.payload as { data: { id: string } }).data.id === threadId)
    .map((m) => m.eventType)
    .reverse();
};

describe('a thread with a time to live', () => {
  it('expires that long after its last activity; an expired thread is not found, then swept with thread.expired', async () => {
    const created = await call<Thread>(conn, 'POST', '/api/v1/threads', { title: 'Short-lived', ttlSeconds: 60 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ttlSeconds: 60, expiresAt: at(60) });
    const id = created.body.id;

    // A message is activity: the hour starts again.
    later(50);
    await call(conn, 'POST', `/api/v1/threads/${id}/messages`, { messages: [{ role: 'user', content: [{ type: 'text', text: 'still here' }] }] });
    expect((await getThread(id)).body.expiresAt).toBe(at(60));
    later(59);
    await running.server.expireThreadsNow();
    expect((await getThread(id)).status).toBe(200);

    later(2);
    expectProblem(await getThread(id), 404, 'not-found');
    const listed = await call<{ data: Thread[] }>(conn, 'GET', '/api/v1/threads?pageSize=100');
    expect(listed.body.data.map((t) => t.id)).not.toContain(id);
    expect(await running.server.db('threads').where({ id }).first()).toBeDefined();
    await running.server.expireThreadsNow();
    expect(await running.server.db('threads').where({ id }).first()).toBeUndefined();
    expect(await running.server.db('thread_messages').where({ thread_id: id }).first()).toBeUndefined();
    expect(await sentFor(id)).toEqual(['thread.created', 'thread.expired']);
  });

  it('is changed by updateThread: null keeps the thread, a new value counts from now', async () => {
    const id = (await call<Thread>(conn, 'POST', '/api/v1/threads', { ttlSeconds: 120 })).body.id;
    const kept = await call<Thread>(conn, 'PATCH', `/api/v1/threads/${id}`, { ttlSeconds: null });
    expect(kept.body).toMatchObject({ ttlSeconds: null, expiresAt: null });
    later(3600);
    expect((await getThread(id)).status).toBe(200);
    const again = await call<Thread>(conn, 'PATCH', `/api/v1/threads/${id}`, { ttlSeconds: 300, title: 'Back' });
    expect(again.body).toMatchObject({ ttlSeconds: 300, expiresAt: at(300), title: 'Back' });
    expectProblem(await call(conn, 'PATCH', `/api/v1/threads/${id}`, { ttlSeconds: 59 }), 422, 'validation-error');
    expect((await call(conn, 'DELETE', `/api/v1/threads/${id}`)).status).toBe(204);
    expect(await sentFor(id)).toEqual(['thread.created', 'thread.updated', 'thread.updated', 'thread.deleted']);
  });

  it('waits for a run in progress to end before it is swept; starting a run is activity', async () => {
    const agent = await newAgent(conn);
    const id = (await call<Thread>(conn, 'POST', '/api/v1/threads', { agentId: agent.id, ttlSeconds: 60 })).body.id;
    later(30);
    const run = await call<{ id: string }>(conn, 'POST', `/api/v1/threads/${id}/runs`, { ttlSeconds: 3600 });
    expect((await getThread(id)).body.expiresAt).toBe(at(60));
    later(61);
    await running.server.expireThreadsNow();
    expect(await running.server.db('threads').where({ id }).first()).toBeDefined();
    await call(conn, 'POST', `/api/v1/runs/${run.body.id}/cancel`);
    await running.server.expireThreadsNow();
    expect(await running.server.db('threads').where({ id }).first()).toBeUndefined();
    // The run stays, on no thread.
    expect((await call<{ threadId: string | null }>(conn, 'GET', `/api/v1/runs/${run.body.id}`)).body.threadId).toBeNull();
  });
});
