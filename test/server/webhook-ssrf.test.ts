import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { components } from '../../server/src/generated/openapi.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, expectProblem, type Conn } from './run-helpers.js';

type EndpointWithSecret = components['schemas']['WebhookEndpointWithSecret'];
type Message = components['schemas']['WebhookMessage'];
type Attempt = components['schemas']['WebhookAttempt'];

/**
 * Deliveries never reach an address the policy refuses. A TCP listener on 127.0.0.1 and one on ::1
 * (same port) count every connection they get; the server under test runs with the default policy
 * (no private addresses) except 127.0.0.2, where an allowed receiver redirects to the counting port.
 * Only loopback addresses are ever connected to.
 */
let countingPort: number;
let connections = 0;
const counters: TcpServer[] = [];

type Received = { headers: IncomingHttpHeaders; body: string };
const allowedReceived: Received[] = [];
let allowedUrl: string;
let closeAllowed: () => Promise<void>;

let server: ServerProcess;
let conn: Conn;

function countingListener(host: string, port: number): Promise<TcpServer> {
  const srv = createTcpServer((socket) => {
    connections++;
    socket.destroy();
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
}

beforeAll(async () => {
  const v4 = await countingListener('127.0.0.1', 0);
  countingPort = (v4.address() as AddressInfo).port;
  counters.push(v4, await countingListener('::1', countingPort));
  // The listeners do count: one connection from the test to each, then back to zero.
  for (const host of ['127.0.0.1', '::1']) {
    await new Promise<void>((resolve, reject) => {
      const socket = connect(countingPort, host, () => socket.end());
      socket.on('close', () => resolve()).on('error', reject);
    });
  }
  await new Promise((r) => setTimeout(r, 100));
  expect(connections).toBe(2);
  connections = 0;

  const allowed = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      allowedReceived.push({ headers: req.headers, body });
      res.writeHead(302, { Location: `http://127.0.0.1:${countingPort}/` }).end();
    });
  });
  await new Promise<void>((resolve) => allowed.listen(0, '127.0.0.2', resolve));
  allowedUrl = `http://127.0.0.2:${(allowed.address() as AddressInfo).port}/hook`;
  closeAllowed = () => new Promise<void>((resolve) => allowed.close(() => resolve()));

  server = await startServerProcess({ WEBHOOK_ALLOWED_ADDRESSES: '127.0.0.2' });
  conn = { baseUrl: server.url, key: server.adminKey };
});

afterAll(async () => {
  await server?.stop();
  await closeAllowed?.();
  await Promise.all(counters.map((c) => new Promise((resolve) => c.close(resolve))));
});

async function newEndpoint(c: Conn, url: string): Promise<EndpointWithSecret> {
  const r = await call<EndpointWithSecret>(c, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes: ['agent.created'] });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** Sends a test ping and waits for its first attempt to be recorded. */
async function pingAndWait(c: Conn, endpointId: string): Promise<{ message: Message; attempt: Attempt }> {
  const ping = await call<Message>(c, 'POST', `/api/v1/webhook-endpoints/${endpointId}/test`);
  expect(ping.status, JSON.stringify(ping.body)).toBe(202);
  const end = Date.now() + 15_000;
  for (;;) {
    const attempts = (await call<{ data: Attempt[] }>(c, 'GET', `/api/v1/webhook-messages/${ping.body.id}/attempts?sort=createdAt`)).body.data;
    if (attempts.length > 0) {
      const message = (await call<Message>(c, 'GET', `/api/v1/webhook-messages/${ping.body.id}`)).body;
      return { message, attempt: attempts[0]! };
    }
    if (Date.now() > end) throw new Error(`no attempt recorded for ${ping.body.id}\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('webhook deliveries and private addresses (SSRF)', () => {
  it('refuses to register or move an endpoint to a loopback or unspecified address, or a name resolving to one, naming /url and the settings', async () => {
    const refused = [
      `http://127.0.0.1:${countingPort}/`,
      `http://[::1]:${countingPort}/`,
      `http://[::ffff:127.0.0.1]:${countingPort}/`,
      `http://0.0.0.0:${countingPort}/`,
      // Names are resolved at registration too (and checked again at each connection).
      `http://localhost:${countingPort}/`,
    ];
    for (const url of refused) {
      const problem = expectProblem(await call(conn, 'POST', '/api/v1/webhook-endpoints', { url }), 422, 'validation-error');
      expect(
        problem.errors!.map((e) => e.pointer),
        url,
      ).toEqual(['/url']);
      expect(problem.detail, url).toMatch(
        /does not connect to\. List the address in WEBHOOK_ALLOWED_ADDRESSES, or set WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true, to allow it\.$/,
      );
    }
    expect(
      expectProblem(await call(conn, 'POST', '/api/v1/webhook-endpoints', { url: `http://localhost:${countingPort}/` }), 422, 'validation-error').detail,
    ).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    // The allowed address is accepted, and cannot be moved to a refused one.
    const allowed = await newEndpoint(conn, allowedUrl);
    for (const url of refused) {
      const problem = expectProblem(await call(conn, 'PATCH', `/api/v1/webhook-endpoints/${allowed.id}`, { url }), 422, 'validation-error');
      expect(
        problem.errors!.map((e) => e.pointer),
        url,
      ).toEqual(['/url']);
    }
    expect((await call(conn, 'GET', `/api/v1/webhook-endpoints/${allowed.id}`)).body.url).toBe(allowedUrl);
    const listed = (await call<{ data: { url: string }[] }>(conn, 'GET', '/api/v1/webhook-endpoints?pageSize=100')).body.data;
    expect(listed.map((e) => e.url)).toEqual([allowedUrl]);
    expect(connections).toBe(0);
  });

  it("records the allowed receiver's redirect to loopback as a failed 302 attempt, without following it", async () => {
    const endpoint = await newEndpoint(conn, allowedUrl);
    const before = allowedReceived.length;
    const { message, attempt } = await pingAndWait(conn, endpoint.id);
    expect(attempt).toMatchObject({ statusCode: 302, error: null, url: allowedUrl });
    expect(message).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 302 });
    expect(message.nextAttemptAt).not.toBeNull();
    const delivered = allowedReceived.slice(before);
    expect(delivered).toHaveLength(1);
    const headers = {
      'webhook-id': String(delivered[0]!.headers['webhook-id']),
      'webhook-timestamp': String(delivered[0]!.headers['webhook-timestamp']),
      'webhook-signature': String(delivered[0]!.headers['webhook-signature']),
    };
    expect(headers['webhook-id']).toBe(message.id);
    expect(new Webhook(endpoint.secret).verify(delivered[0]!.body, headers)).toMatchObject({ type: 'webhook_endpoint.ping', data: { id: endpoint.id } });
    // Give a redirect-following client every chance to show itself.
    await new Promise((r) => setTimeout(r, 500));
    expect(connections).toBe(0);
  });

  it(
    'checks the address when connecting, not only at registration: endpoints stored while loopback was allowed (by address or by name) are refused after a restart without it',
    { timeout: 90_000 },
    async () => {
      const db: TestDatabase = await createTestDatabase();
      try {
        const permissive = await startServerProcess({ WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' }, db);
        const permissiveConn = { baseUrl: permissive.url, key: permissive.adminKey };
        const v4 = await newEndpoint(permissiveConn, `http://127.0.0.1:${countingPort}/`);
        const v6 = await newEndpoint(permissiveConn, `http://[::1]:${countingPort}/`);
        const byName = await newEndpoint(permissiveConn, `http://localhost:${countingPort}/`);
        await permissive.stop();

        const strict = await startServerProcess({}, db);
        try {
          const strictConn = { baseUrl: strict.url, key: strict.adminKey };
          for (const endpoint of [v4, v6]) {
            const { attempt } = await pingAndWait(strictConn, endpoint.id);
            expect(attempt.statusCode, endpoint.url).toBeNull();
            expect(attempt.error, endpoint.url).toMatch(/^address not allowed: /);
          }
          // The name is resolved when connecting, and what it resolves to is refused.
          const { attempt, message } = await pingAndWait(strictConn, byName.id);
          expect(attempt).toMatchObject({ statusCode: null, responseBody: null, url: `http://localhost:${countingPort}/` });
          expect(attempt.error).toMatch(/^address not allowed: .*(127\.0\.0\.1|::1)/);
          expect(message).toMatchObject({ status: 'pending', lastStatusCode: null, lastError: attempt.error });
          await new Promise((r) => setTimeout(r, 500));
          expect(connections).toBe(0);
        } finally {
          await strict.stop();
        }
      } finally {
        await db.drop();
      }
    },
  );

  it('made no connection to the counting listeners in the whole file, retries included', async () => {
    // The refused messages are retried 5 s after their first attempt: let one retry happen.
    await new Promise((r) => setTimeout(r, 6000));
    expect(connections).toBe(0);
  });
});
