import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { RunningServer } from '@switchboard/server';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, newAgent, type Conn } from './run-helpers.js';

type EndpointWithSecret = components['schemas']['WebhookEndpointWithSecret'];
type Endpoint = components['schemas']['WebhookEndpoint'];
type Message = components['schemas']['WebhookMessage'];
type Attempt = components['schemas']['WebhookAttempt'];

/**
 * Delivery retries on an in-process server whose clock the test moves: the worker's own timer is a
 * minute of real time, so attempts happen only on the wake after a commit and on deliverWebhooksNow.
 * The clock is process-global: these tests run one after the other, each far from the others in time.
 */
let fakeNow = Date.parse('2032-01-10T08:00:00.000Z');
const setNow = (ms: number) => {
  fakeNow = ms;
};
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** What the server waits after the 1st, 2nd, ... failure (DOMAIN.md): 8 attempts in all. */
const DELAYS = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

let server: RunningServer;
let app: Conn;
let running: InProcessServer | undefined;

type Received = { headers: IncomingHttpHeaders; body: string; at: number };

/** A receiver on loopback answering each request with the next status of `answer` (its last one from then on). */
async function receiver(answer: (n: number) => number) {
  const received: Received[] = [];
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: fakeNow });
      res.writeHead(answer(received.length)).end('ok');
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`;
  return { url, received, close: () => new Promise<void>((resolve) => srv.close(() => resolve())) };
}

const receivers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  // The receivers listen on loopback, which the server refuses unless told otherwise.
  running = await startInProcessServer({ now: () => fakeNow }, { WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' });
  server = running.server;
  app = { baseUrl: running.baseUrl, key: running.adminKey };
});

// Every test starts with no endpoint: an earlier test's endpoints would take this test's events.
beforeEach(async () => {
  const listed = await call<{ data: Endpoint[] }>(app, 'GET', '/api/v1/webhook-endpoints?pageSize=100');
  for (const e of listed.body.data) expect((await call(app, 'DELETE', `/api/v1/webhook-endpoints/${e.id}`)).status).toBe(204);
});

afterAll(async () => {
  await running?.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

async function newEndpoint(url: string, eventTypes: string[] = ['agent.created']): Promise<EndpointWithSecret> {
  const r = await call<EndpointWithSecret>(app, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}
const messagesOf = async (endpointId: string) =>
  (await call<{ data: Message[] }>(app, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=100&sort=createdAt`)).body.data;
const getMessage = async (id: string) => (await call<Message>(app, 'GET', `/api/v1/webhook-messages/${id}`)).body;
const attemptsOf = async (id: string) =>
  (await call<{ data: Attempt[] }>(app, 'GET', `/api/v1/webhook-messages/${id}/attempts?pageSize=100&sort=createdAt`)).body.data;
const getEndpoint = async (id: string) => (await call<Endpoint>(app, 'GET', `/api/v1/webhook-endpoints/${id}`)).body;

/**
 * Checks one delivery's Standard Webhooks signature with the `standardwebhooks` package.
 * `Webhook.verify` also refuses a timestamp more than 5 minutes from `Date.now()`, the real clock,
 * while the server signs with its (fake) clock, years ahead and hours apart between retries. So
 * `Date.now` is pinned to the fake clock for the synchronous verify call only (the server's clock is
 * its own injected one, untouched): every attempt is verified, its tolerance included. The HMAC is
 * also recomputed by hand from the spec's formula, so the check does not rest on the package alone.
 */
function verify(secret: string, delivery: Received) {
  const headers = {
    'webhook-id': String(delivery.headers['webhook-id']),
    'webhook-timestamp': String(delivery.headers['webhook-timestamp']),
    'webhook-signature': String(delivery.headers['webhook-signature']),
  };
  const pinned = vi.spyOn(Date, 'now').mockReturnValue(delivery.at);
  try {
    expect(new Webhook(secret).verify(delivery.body, headers)).toEqual(JSON.parse(delivery.body));
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 9).toString('base64')}`).verify(delivery.body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(`${delivery.body} `, headers)).toThrow();
  } finally {
    pinned.mockRestore();
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${delivery.body}`).digest('base64');
  expect(headers['webhook-signature'].split(' ')).toContain(`v1,${expected}`);
}

describe('webhook delivery retries', () => {
  it('retries 500, 500, 500 then 200 at T, T+5 s, T+5 s+5 min, T+5 s+5 min+30 min, with one webhook-id, and succeeds with 4 attempts', async () => {
    const T = Date.parse('2032-01-10T08:00:00.000Z');
    setNow(T);
    const statuses = [500, 500, 500, 200];
    const rx = await receiver((n) => statuses[Math.min(n, statuses.length) - 1]!);
    receivers.push(rx);
    const endpoint = await newEndpoint(rx.url);
    const agent = await newAgent(app);
    await server.deliverWebhooksNow();
    expect(rx.received).toHaveLength(1);
    const [message] = await messagesOf(endpoint.id);
    expect(message).toMatchObject({ eventType: 'agent.created', status: 'pending', attempts: 1, lastStatusCode: 500 });

    const dueTimes = [T];
    for (const delay of DELAYS.slice(0, 3)) dueTimes.push(dueTimes.at(-1)! + delay);
    for (let i = 1; i < dueTimes.length; i++) {
      const due = dueTimes[i]!;
      expect((await getMessage(message!.id)).nextAttemptAt).toBe(new Date(due).toISOString());
      // One second short of the due time: nothing is sent.
      setNow(due - SECOND);
      await server.deliverWebhooksNow();
      expect(rx.received, `attempt ${i + 1} sent before it was due`).toHaveLength(i);
      setNow(due);
      await server.deliverWebhooksNow();
      expect(rx.received, `attempt ${i + 1} not sent when due`).toHaveLength(i + 1);
    }

    expect(rx.received.map((d) => d.headers['webhook-id'])).toEqual(Array(4).fill(message!.id));
    expect(rx.received.map((d) => Number(d.headers['webhook-timestamp']))).toEqual(dueTimes.map((t) => t / 1000));
    const bodies = rx.received.map((d) => JSON.parse(d.body) as { id: string; type: string; data: { id: string } });
    expect(new Set(rx.received.map((d) => d.body)).size).toBe(1);
    expect(bodies[0]).toMatchObject({ id: message!.eventId, type: 'agent.created', data: { id: agent.id } });
    for (const delivery of rx.received) verify(endpoint.secret, delivery);

    const done = await getMessage(message!.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 4,
      nextAttemptAt: null,
      lastStatusCode: 200,
      lastAttemptAt: new Date(dueTimes[3]!).toISOString(),
    });
    const attempts = await attemptsOf(message!.id);
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.createdAt])).toEqual(dueTimes.map((t, i) => [i + 1, statuses[i], new Date(t).toISOString()]));
    expect(attempts.every((a) => a.url === rx.url && a.messageId === message!.id && a.endpointId === endpoint.id)).toBe(true);
    expect(await getEndpoint(endpoint.id)).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });

    // Nothing more, however late.
    setNow(dueTimes[3]! + 30 * DAY);
    await server.deliverWebhooksNow();
    expect(rx.received).toHaveLength(4);
  });

  it('gives up after 8 failed attempts on the schedule: failed, no next attempt, no 9th attempt even much later', async () => {
    const T = Date.parse('2032-03-01T00:00:00.000Z');
    setNow(T);
    const rx = await receiver(() => 500);
    receivers.push(rx);
    const endpoint = await newEndpoint(rx.url);
    await newAgent(app);
    await server.deliverWebhooksNow();
    const [message] = await messagesOf(endpoint.id);
    const dueTimes = [T];
    for (const delay of DELAYS) dueTimes.push(dueTimes.at(-1)! + delay);
    expect(dueTimes).toHaveLength(8);
    for (let i = 1; i < dueTimes.length; i++) {
      setNow(dueTimes[i]! - SECOND);
      await server.deliverWebhooksNow();
      expect(rx.received, `attempt ${i + 1} sent before it was due`).toHaveLength(i);
      setNow(dueTimes[i]!);
      await server.deliverWebhooksNow();
      expect(rx.received, `attempt ${i + 1} not sent when due`).toHaveLength(i + 1);
    }
    expect(rx.received.map((d) => Number(d.headers['webhook-timestamp']) * 1000)).toEqual(dueTimes);
    expect(new Set(rx.received.map((d) => d.headers['webhook-id']))).toEqual(new Set([message!.id]));
    for (const delivery of rx.received) verify(endpoint.secret, delivery);

    const failed = await getMessage(message!.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 8, nextAttemptAt: null, lastStatusCode: 500 });
    const attempts = await attemptsOf(message!.id);
    expect(attempts.map((a) => a.statusCode)).toEqual(Array(8).fill(500));
    expect(attempts.map((a) => a.createdAt)).toEqual(dueTimes.map((t) => new Date(t).toISOString()));
    // About 28 hours of failures: the endpoint is failing but far from the 5 days that disable it.
    expect(await getEndpoint(endpoint.id)).toMatchObject({ enabled: true, disabledReason: null, failingSince: new Date(T).toISOString() });

    for (const later of [HOUR, 10 * HOUR, 3 * DAY, 60 * DAY]) {
      setNow(dueTimes[7]! + later);
      await server.deliverWebhooksNow();
    }
    expect(rx.received).toHaveLength(8);
    expect(await getMessage(message!.id)).toMatchObject({ status: 'failed', attempts: 8, nextAttemptAt: null });
  });

  it('disables an endpoint whose deliveries all fail for 5 days (failing), gives up its messages and reports it', async () => {
    const T = Date.parse('2032-06-01T00:00:00.000Z');
    setNow(T);
    const rx = await receiver(() => 503);
    receivers.push(rx);
    const watcher = await receiver(() => 204);
    receivers.push(watcher);
    const endpoint = await newEndpoint(rx.url);
    const watching = await newEndpoint(watcher.url, ['webhook_endpoint.disabled']);
    await newAgent(app);
    await server.deliverWebhooksNow();
    expect(rx.received).toHaveLength(1);
    expect(await getEndpoint(endpoint.id)).toMatchObject({ enabled: true, failingSince: new Date(T).toISOString() });

    // Every hour for 5 days less a second, deliver what is due; a new event every 12 hours.
    const limit = T + 5 * DAY;
    for (let at = T + HOUR; at < limit; at += HOUR) {
      setNow(at);
      if ((at - T) % (12 * HOUR) === 0) await newAgent(app);
      await server.deliverWebhooksNow();
    }
    setNow(limit - SECOND);
    await newAgent(app);
    await server.deliverWebhooksNow();
    const before = await getEndpoint(endpoint.id);
    expect(before, 'disabled before 5 days of failures').toMatchObject({ enabled: true, disabledReason: null, failingSince: new Date(T).toISOString() });
    const attemptsBefore = rx.received.length;
    expect(attemptsBefore).toBeGreaterThan(20);
    expect(watcher.received).toHaveLength(0);

    // The retry of the last event is due 5 s later, just past the 5 days: that failure disables the endpoint.
    setNow(limit + 4 * SECOND);
    await server.deliverWebhooksNow();
    expect(rx.received).toHaveLength(attemptsBefore + 1);
    const disabled = await getEndpoint(endpoint.id);
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'failing', failingSince: new Date(T).toISOString() });
    const messages = await messagesOf(endpoint.id);
    expect(messages.length).toBeGreaterThanOrEqual(11);
    expect(messages.filter((m) => m.status !== 'failed').map((m) => [m.id, m.status])).toEqual([]);
    expect(messages.every((m) => m.nextAttemptAt === null)).toBe(true);
    for (const delivery of rx.received) verify(endpoint.secret, delivery);

    // Subscribers hear of it, once.
    expect(watcher.received).toHaveLength(1);
    verify(watching.secret, watcher.received[0]!);
    expect(JSON.parse(watcher.received[0]!.body)).toMatchObject({
      type: 'webhook_endpoint.disabled',
      data: { id: endpoint.id, enabled: false, disabledReason: 'failing' },
    });

    // A disabled endpoint receives nothing: not new events, not retries, however late.
    await newAgent(app);
    for (const later of [5 * SECOND, HOUR, 2 * DAY]) {
      setNow(limit + later);
      await server.deliverWebhooksNow();
    }
    expect(rx.received).toHaveLength(attemptsBefore + 1);
    expect(await messagesOf(endpoint.id)).toHaveLength(messages.length);
  });

  it('keeps a finished message and its attempts for 30 days, then purges it; a pending one stays', async () => {
    const T = Date.parse('2033-03-01T08:00:00.000Z');
    setNow(T);
    const ok = await receiver(() => 200);
    const down = await receiver(() => 500);
    receivers.push(ok, down);
    const delivered = await newEndpoint(ok.url);
    const failing = await newEndpoint(down.url);
    await newAgent(app);
    await server.deliverWebhooksNow();
    const [done] = await messagesOf(delivered.id);
    const [pending] = await messagesOf(failing.id);
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(pending).toMatchObject({ status: 'pending' });

    setNow(T + 29 * DAY);
    await server.purgeNow();
    expect((await call(app, 'GET', `/api/v1/webhook-messages/${done!.id}`)).status).toBe(200);
    setNow(T + 31 * DAY);
    await server.purgeNow();
    expect((await call(app, 'GET', `/api/v1/webhook-messages/${done!.id}`)).status).toBe(404);
    expect((await call(app, 'GET', `/api/v1/webhook-messages/${done!.id}/attempts`)).status).toBe(404);
    // Still pending (its retries were never run on this clock): kept whatever its age.
    expect((await call(app, 'GET', `/api/v1/webhook-messages/${pending!.id}`)).status).toBe(200);
  });
});
