import { beforeAll, describe, expect, it } from 'vitest';
import { rawClient, send, type ApiClient } from '../support/client.js';
import { absentId, createAgent, freshAdmin, parseRateLimit, REQUEST_ID, serverUrl } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

describe('Request-Id', () => {
  it('is on every response, successes and errors, API and system routes alike', async () => {
    const agent = await createAgent(api);
    const responses = [
      await fetch(`${serverUrl()}/healthz`),
      await fetch(`${serverUrl()}/api/openapi.json`),
      await fetch(`${serverUrl()}/api/problems/not-found`),
      await send('/api/v1/agents', { key }),
      await send(`/api/v1/agents/${agent.id}`, { key }),
      await send('/api/v1/agents', { key: null }),
      await send('/api/v1/nowhere', { key }),
      await send('/api/v1/agents', { method: 'PUT', key }),
      await send('/api/v1/agents?colour=red', { key }),
      await send(`/api/v1/agents/${absentId('agent')}`, { key }),
      await send(`/api/v1/agents/${agent.id}`, { method: 'DELETE', key }),
    ];
    for (const res of responses) expect(res.headers.get('request-id'), `${res.url} ${res.status}`).toMatch(REQUEST_ID);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 401, 404, 405, 422, 404, 204]);
  });

  it('is unique per request', async () => {
    const ids = await Promise.all(Array.from({ length: 25 }, () => send('/api/v1/agents?pageSize=1', { key }).then((r) => r.headers.get('request-id'))));
    expect(new Set(ids).size).toBe(25);
  });

  it('is not replaced by an inbound X-Request-Id, sane or not', async () => {
    for (const inbound of ['my-correlation-id-42', 'req_01jd4z0a3c6e9g2j5m8p1r4t7v', 'bad value with spaces']) {
      const res = await send('/api/v1/agents?pageSize=1', { key, headers: { 'X-Request-Id': inbound } });
      expect(res.status).toBe(200);
      const id = res.headers.get('request-id');
      expect(id).toMatch(REQUEST_ID);
      expect(id).not.toBe(inbound);
    }
    const failing = await send('/api/v1/agents?colour=red', { key, headers: { 'X-Request-Id': 'req_01jd4z0a3c6e9g2j5m8p1r4t7v' } });
    const body = (await failing.json()) as { requestId: string };
    expect(body.requestId).toBe(failing.headers.get('request-id'));
    expect(body.requestId).not.toBe('req_01jd4z0a3c6e9g2j5m8p1r4t7v');
  });
});

describe('RateLimit headers', () => {
  it('reads carry the read policy and a remaining count that decreases', async () => {
    const reader = await freshAdmin(key);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await send('/api/v1/agents?pageSize=1', { key: reader });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"read";q=600;w=60');
      const rl = parseRateLimit(res.headers.get('ratelimit'));
      expect(rl.category).toBe('read');
      expect(rl.second).toBeGreaterThanOrEqual(0);
      expect(rl.second).toBeLessThanOrEqual(60);
      seen.push(rl.first);
    }
    // A fresh key: its first read leaves 599, and every read takes one.
    expect(seen).toEqual([599, 598, 597]);
  });

  it('POST, PATCH and DELETE count as writes, each against the write budget', async () => {
    const writer = await freshAdmin(key);
    const w = rawClient({ key: writer });
    const created = await w.POST('/api/v1/agents', { body: { name: 'rl', model: 'gpt-4.1' } as never });
    const patched = await w.PATCH('/api/v1/agents/{agentId}', { params: { path: { agentId: created.data!.id } }, body: { name: 'rl2' } });
    const paused = await w.POST('/api/v1/agents/{agentId}/pause', { params: { path: { agentId: created.data!.id } } });
    const deleted = await w.DELETE('/api/v1/agents/{agentId}', { params: { path: { agentId: created.data!.id } } });
    const statuses = [created, patched, paused, deleted].map((r) => r.response.status);
    expect(statuses).toEqual([201, 200, 200, 204]);
    const remaining = [created, patched, paused, deleted].map((r) => {
      expect(r.response.headers.get('ratelimit-policy')).toBe('"write";q=120;w=60');
      const rl = parseRateLimit(r.response.headers.get('ratelimit'));
      expect(rl.category).toBe('write');
      return rl.first;
    });
    expect(remaining).toEqual([119, 118, 117, 116]);
    // The writes did not touch the read budget.
    const read = await send('/api/v1/agents?pageSize=1', { key: writer });
    expect(parseRateLimit(read.headers.get('ratelimit')).first).toBe(599);
  });

  it('are on error responses of API operations too', async () => {
    for (const [path, init, status] of [
      ['/api/v1/agents', { key: null }, 401],
      ['/api/v1/agents', { key: 'sbk_not-a-real-key' }, 401],
      [`/api/v1/agents/${absentId('agent')}`, { key }, 404],
      ['/api/v1/agents?colour=red', { key }, 422],
      ['/api/v1/agents', { key, method: 'POST', body: '{', headers: { 'Content-Type': 'application/json' } }, 400],
    ] as const) {
      const res = await send(path, init);
      expect(res.status).toBe(status);
      expect(res.headers.get('ratelimit-policy'), `${path} ${status}`).toMatch(/^"(read|write)";q=\d+;w=60$/);
      expect(res.headers.get('ratelimit'), `${path} ${status}`).toMatch(/^"(read|write)";r=\d+;t=\d+$/);
      expect(parseRateLimit(res.headers.get('ratelimit')).category).toBe(init.method === 'POST' ? 'write' : 'read');
    }
  });
});

describe('CORS', () => {
  it('exposes the headers clients need to read', async () => {
    const res = await send('/api/v1/agents?pageSize=1', { key, headers: { Origin: 'http://example.test' } });
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(['request-id', 'ratelimit', 'ratelimit-policy', 'retry-after', 'etag', 'idempotent-replayed', 'location']));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it("answers a browser's preflight with the methods and headers it may send", async () => {
    const res = await fetch(`${serverUrl()}/api/v1/runs`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, idempotency-key' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
  });

  it('sends no CORS headers to a caller without an Origin, yet says the answer varies by Origin (so no cache gives it to a browser)', async () => {
    const res = await send('/api/v1/agents?pageSize=1', { key });
    expect(res.status).toBe(200);
    const names: string[] = [];
    res.headers.forEach((_value, name) => names.push(name));
    expect(names.filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(res.headers.get('vary')).toContain('Origin');
  });
});
