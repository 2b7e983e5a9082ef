import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { components } from '../../server/src/generated/openapi.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { until } from '../support/until.js';
import { call, newAgent, type Conn } from './run-helpers.js';

type EndpointWithSecret = components['schemas']['WebhookEndpointWithSecret'];
type Message = components['schemas']['WebhookMessage'];
type Attempt = components['schemas']['WebhookAttempt'];

/**
 * `kill -9` between a committed change and the delivery of its event: the message is in the
 * database, so a server started again on the same database delivers it, with the same webhook-id,
 * once the dead worker's claim runs out (attempt timeout 2 s + 5 s margin).
 */
const TIMEOUT_MS = 2000;
const CLAIM_MS = TIMEOUT_MS + 5000;
/** The claim, plus a restart and a poll interval (1 s) with room to spare on a slow machine. */
const DEADLINE_MS = CLAIM_MS + 30_000;
const ENV = { WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true', WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) };

type Received = { headers: IncomingHttpHeaders; body: string; at: number };

/** A receiver on loopback whose behaviour the test switches: hang (never answer) or answer 200. */
async function receiver(port = 0) {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  let mode: 'hang' | 'ok' = 'ok';
  const srv = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      if (mode === 'hang') hanging.push(res);
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    received,
    setMode: (m: 'hang' | 'ok') => (mode = m),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        srv.close(() => resolve());
        srv.closeAllConnections();
      }),
  };
}

function verify(secret: string, delivery: Received) {
  const headers = {
    'webhook-id': String(delivery.headers['webhook-id']),
    'webhook-timestamp': String(delivery.headers['webhook-timestamp']),
    'webhook-signature': String(delivery.headers['webhook-signature']),
  };
  expect(new Webhook(secret).verify(delivery.body, headers)).toEqual(JSON.parse(delivery.body));
}

const killNow = async (server: ServerProcess) => {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  expect(server.child.kill('SIGKILL')).toBe(true);
  await exited;
  expect(server.child.signalCode).toBe('SIGKILL');
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}
async function serverOn(db: TestDatabase): Promise<{ server: ServerProcess; conn: Conn }> {
  const server = await startServerProcess(ENV, db);
  // stop() waits for an exit still to come: not for a server this test already killed.
  cleanups.push(async () => (server.child.exitCode === null && server.child.signalCode === null ? server.stop() : undefined));
  return { server, conn: { baseUrl: server.url, key: server.adminKey } };
}
async function newEndpoint(conn: Conn, url: string): Promise<EndpointWithSecret> {
  const r = await call<EndpointWithSecret>(conn, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes: ['agent.created'] });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}
const messagesOf = async (conn: Conn, endpointId: string) =>
  (await call<{ data: Message[] }>(conn, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=100`)).body.data;
const attemptsOf = async (conn: Conn, id: string) =>
  (await call<{ data: Attempt[] }>(conn, 'GET', `/api/v1/webhook-messages/${id}/attempts?pageSize=100&sort=createdAt`)).body.data;

describe('webhook delivery across a crash (kill -9)', () => {
  it('a delivery in flight when the server is killed is delivered again after a restart, with the same webhook-id', { timeout: 90_000 }, async () => {
    const rx = await receiver();
    cleanups.push(() => rx.close());
    rx.setMode('hang');
    const db = await database();
    const first = await serverOn(db);
    const endpoint = await newEndpoint(first.conn, rx.url);
    const agent = await newAgent(first.conn);
    const hung = await until('the receiver holds the first delivery', 10_000, () => rx.received[0]);
    const [message] = await messagesOf(first.conn, endpoint.id);
    expect(message).toMatchObject({ status: 'pending', attempts: 0, eventType: 'agent.created' });
    expect(hung.headers['webhook-id']).toBe(message!.id);
    verify(endpoint.secret, hung);

    await killNow(first.server);
    const killedAt = Date.now();
    rx.setMode('ok');
    const second = await serverOn(db);
    const again = await until('the message is delivered again', DEADLINE_MS - (Date.now() - killedAt), () => rx.received[1]);
    // Not before the dead worker's claim ran out: the same message is never sent twice at once.
    expect(again.at - hung.at).toBeGreaterThanOrEqual(CLAIM_MS - 1000);
    expect(again.headers['webhook-id']).toBe(message!.id);
    expect(Number(again.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(Number(hung.headers['webhook-timestamp']));
    const body = JSON.parse(again.body) as { id: string; type: string; data: { id: string } };
    expect(body).toMatchObject({ id: message!.eventId, type: 'agent.created', data: { id: agent.id } });
    expect(again.body).toBe(hung.body);
    verify(endpoint.secret, again);

    const done = await until('the message is recorded as succeeded', 10_000, async () => {
      const m = (await call<Message>(second.conn, 'GET', `/api/v1/webhook-messages/${message!.id}`)).body;
      return m.status === 'succeeded' ? m : undefined;
    });
    expect(done).toMatchObject({ lastStatusCode: 200, nextAttemptAt: null });
    // The killed attempt was never recorded; the one that succeeded was.
    const attempts = await attemptsOf(second.conn, message!.id);
    expect(attempts.at(-1)).toMatchObject({ statusCode: 200, error: null });
    expect(done.attempts).toBe(attempts.length);
    // At least once, and only that: nothing else arrives.
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received.every((d) => d.headers['webhook-id'] === message!.id)).toBe(true);
    expect(rx.received).toHaveLength(2);
    expect(await messagesOf(second.conn, endpoint.id)).toHaveLength(1);
  });

  it('a change committed just before kill -9, with the receiver down, is delivered after a restart with the receiver up', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hook`;
    const db = await database();
    const first = await serverOn(db);
    const endpoint = await newEndpoint(first.conn, url);
    const agent = await newAgent(first.conn);
    // Right after the change's response: the attempt (connection refused) may or may not be recorded.
    await killNow(first.server);
    const killedAt = Date.now();

    const rx = await receiver(port);
    cleanups.push(() => rx.close());
    const second = await serverOn(db);
    const [message] = await messagesOf(second.conn, endpoint.id);
    expect(message).toMatchObject({ eventType: 'agent.created' });
    const delivered = await until('the message is delivered', DEADLINE_MS - (Date.now() - killedAt), () => rx.received[0]);
    expect(delivered.headers['webhook-id']).toBe(message!.id);
    expect(JSON.parse(delivered.body)).toMatchObject({ id: message!.eventId, type: 'agent.created', data: { id: agent.id } });
    verify(endpoint.secret, delivered);

    const done = await until('the message is recorded as succeeded', 10_000, async () => {
      const m = (await call<Message>(second.conn, 'GET', `/api/v1/webhook-messages/${message!.id}`)).body;
      return m.status === 'succeeded' ? m : undefined;
    });
    const attempts = await attemptsOf(second.conn, message!.id);
    expect(attempts.at(-1)).toMatchObject({ statusCode: 200 });
    // Anything recorded before the kill can only be the refused connection.
    for (const a of attempts.slice(0, -1)) expect(a).toMatchObject({ statusCode: null, error: 'connection refused' });
    expect(done.attempts).toBe(attempts.length);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received).toHaveLength(1);
  });
});
