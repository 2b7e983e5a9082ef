import { request } from 'node:http';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { uniqueName } from '../support/client.js';
import { parseRateLimit, REQUEST_ID } from './helpers.js';

/** A server of its own: 3 writes and 5 reads a minute per credential. */
let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({ RATE_LIMIT_WRITE: '3', RATE_LIMIT_READ: '5' });
});

afterAll(async () => {
  await server?.stop();
});

type Reply = { status: number; headers: Headers; body: string };

/**
 * A request to the server (always on 127.0.0.1), optionally from another loopback source address:
 * unauthenticated requests are limited per client address, and with Redis every server of the run
 * shares those counters, so this file uses a source address of its own.
 */
function call(path: string, options: { key?: string | null; method?: string; body?: unknown; from?: string } = {}): Promise<Reply> {
  const url = new URL(path, server.url);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  if (options.key) headers.Authorization = `Bearer ${options.key}`;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? 'GET',
        headers,
        ...(options.from ? { localAddress: options.from } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode!, headers: h, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const randomLoopback = () => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

function remaining(reply: Reply, category: 'read' | 'write') {
  const rl = parseRateLimit(reply.headers.get('ratelimit'));
  expect(rl.category).toBe(category);
  expect(reply.headers.get('ratelimit-policy')).toBe(category === 'write' ? '"write";q=3;w=60' : '"read";q=5;w=60');
  return rl.first;
}

function expectRateLimited(reply: Reply, category: 'read' | 'write') {
  expect(reply.status).toBe(429);
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(reply.body) as { code: string; type: string; status: number; requestId: string };
  expect(problem.code).toBe('rate-limited');
  expect(problem.type).toBe('/api/problems/rate-limited');
  expect(problem.status).toBe(429);
  expect(problem.requestId).toBe(reply.headers.get('request-id'));
  expect(problem.requestId).toMatch(REQUEST_ID);
  const retryAfter = reply.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  const seconds = Number(retryAfter);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(60);
  expect(remaining(reply, category)).toBe(0);
  // Never earlier than the end of the window the RateLimit header announces.
  expect(seconds).toBeGreaterThanOrEqual(parseRateLimit(reply.headers.get('ratelimit')).second);
}

let otherKey: string;
let agentId: string;

describe('rate limits (dedicated server)', () => {
  it('answers the 4th write of a key in the window with 429 rate-limited, Retry-After and r=0', async () => {
    const key = server.adminKey;
    const created = await call('/api/v1/api-keys', { key, method: 'POST', body: { name: 'other', scopes: ['read', 'write'] } });
    expect(created.status).toBe(201);
    expect(remaining(created, 'write')).toBe(2);
    otherKey = (JSON.parse(created.body) as { secret: string }).secret;

    const a1 = await call('/api/v1/agents', { key, method: 'POST', body: { name: 'one', model: 'gpt-4.1' } });
    expect(a1.status).toBe(201);
    expect(remaining(a1, 'write')).toBe(1);
    agentId = (JSON.parse(a1.body) as { id: string }).id;
    const a2 = await call('/api/v1/agents', { key, method: 'POST', body: { name: 'two', model: 'gpt-4.1' } });
    expect(a2.status).toBe(201);
    expect(remaining(a2, 'write')).toBe(0);

    const name = uniqueName('over budget');
    const limited = await call('/api/v1/agents', { key, method: 'POST', body: { name, model: 'gpt-4.1' } });
    expectRateLimited(limited, 'write');

    // Every write counts: PATCH, DELETE and actions are refused too, and nothing changes.
    expectRateLimited(await call(`/api/v1/agents/${agentId}`, { key, method: 'PATCH', body: { name: 'renamed' } }), 'write');
    expectRateLimited(await call(`/api/v1/agents/${agentId}`, { key, method: 'DELETE' }), 'write');
    expectRateLimited(await call(`/api/v1/agents/${agentId}/pause`, { key, method: 'POST' }), 'write');
    // Even an invalid write is refused for the budget first.
    expectRateLimited(await call('/api/v1/agents', { key, method: 'POST', body: { colour: 'red' } }), 'write');

    const list = await call(`/api/v1/agents?q=${encodeURIComponent(name)}`, { key });
    expect(list.status).toBe(200);
    expect((JSON.parse(list.body) as { pagination: { total: number } }).pagination.total).toBe(0);
    const agent = await call(`/api/v1/agents/${agentId}`, { key });
    expect(agent.status).toBe(200);
    expect(JSON.parse(agent.body)).toMatchObject({ name: 'one', status: 'active' });
  });

  it('keeps a separate budget for reads, with the same rules', async () => {
    const key = server.adminKey;
    // The previous test read twice with this key.
    const third = await call('/api/v1/organization', { key });
    expect(third.status).toBe(200);
    expect(remaining(third, 'read')).toBe(2);
    expect(remaining(await call('/api/v1/agents', { key }), 'read')).toBe(1);
    expect(remaining(await call('/api/v1/agents', { key }), 'read')).toBe(0);
    expectRateLimited(await call('/api/v1/agents', { key }), 'read');
    expectRateLimited(await call(`/api/v1/agents/${agentId}`, { key }), 'read');
  });

  it('gives another key budgets of its own', async () => {
    const w = await call('/api/v1/agents', { key: otherKey, method: 'POST', body: { name: 'by other', model: 'gpt-4.1' } });
    expect(w.status).toBe(201);
    expect(remaining(w, 'write')).toBe(2);
    const r = await call('/api/v1/agents', { key: otherKey });
    expect(r.status).toBe(200);
    expect(remaining(r, 'read')).toBe(4);
  });

  it('limits the 401s of bad credentials per client', async () => {
    const from = randomLoopback();
    const bad = 'sbk_' + 'Z'.repeat(43);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await call('/api/v1/agents', { key: bad, from });
      expect(reply.status).toBe(401);
      expect((JSON.parse(reply.body) as { code: string }).code).toBe('unauthorized');
      seen.push(remaining(reply, 'read'));
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    // The budget is the client's: another unknown key, or none at all, draws on it too.
    expectRateLimited(await call('/api/v1/agents', { key: bad, from }), 'read');
    expectRateLimited(await call('/api/v1/agents', { key: 'sbk_' + 'Y'.repeat(43), from }), 'read');
    expectRateLimited(await call('/api/v1/agents', { key: null, from }), 'read');

    // Writes have their own budget per client too.
    for (let i = 0; i < 3; i++) expect((await call('/api/v1/agents', { key: bad, from, method: 'POST', body: { name: 'x', model: 'm' } })).status).toBe(401);
    expectRateLimited(await call('/api/v1/agents', { key: bad, from, method: 'POST', body: { name: 'x', model: 'm' } }), 'write');

    // A valid key from the same address is counted by its key, not by the address.
    const valid = await call('/api/v1/agents', { key: otherKey, from });
    expect(valid.status).toBe(200);
    expect(remaining(valid, 'read')).toBe(3);
    // Another client address has its own budget.
    const elsewhere = await call('/api/v1/agents', { key: bad, from: randomLoopback() });
    expect(elsewhere.status).toBe(401);
    expect(remaining(elsewhere, 'read')).toBe(4);
  });
});
