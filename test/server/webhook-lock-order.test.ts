import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

/**
 * Found by the fuzz suite on PostgreSQL: recording a delivery locked the message, then its endpoint,
 * while updating the endpoint locks it, then its messages; the two deadlocked and the PATCH was a 500.
 * Deliveries and endpoint updates here overlap hundreds of times; none may fail.
 */
let server: ServerProcess;
let receiver: Server;
let receiverUrl: string;

beforeAll(async () => {
  server = await startServerProcess({
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    RATE_LIMIT_READ: '1000000',
    RATE_LIMIT_WRITE: '1000000',
    LOG_LEVEL: 'fatal',
  });
  receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${server.adminKey}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}

describe('webhook deliveries and endpoint updates at the same time', () => {
  it('never deadlock: every update and every write that queues a message succeeds', async () => {
    const created = await call('POST', '/api/v1/webhook-endpoints', { url: receiverUrl, eventTypes: ['agent.*'] });
    expect(created.status).toBe(201);
    const endpointId = (JSON.parse(created.body) as { id: string }).id;
    const failures: string[] = [];
    const expectOk = (what: string, reply: { status: number; body: string }) => {
      if (reply.status >= 300) failures.push(`${what}: ${reply.status} ${reply.body}`);
    };
    for (let round = 0; round < 60 && failures.length === 0; round++) {
      // Each new agent queues a message the worker delivers at once; the PATCHes land while they are recorded.
      const writes = Array.from({ length: 8 }, (_, i) =>
        call('POST', '/api/v1/agents', { name: `lock order ${round}-${i}`, model: 'echo' }).then((r) => expectOk('create agent', r)),
      );
      const toggles = (async () => {
        for (const enabled of [false, true, false, true])
          expectOk(`PATCH enabled=${enabled}`, await call('PATCH', `/api/v1/webhook-endpoints/${endpointId}`, { enabled }));
      })();
      await Promise.all([...writes, toggles]);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
