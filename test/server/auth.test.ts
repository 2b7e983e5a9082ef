import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { createAgent, createKey, freshAdmin, sleep } from './helpers.js';

let admin: string;
let api: ApiClient;

beforeAll(async () => {
  admin = await freshAdmin();
  api = rawClient({ key: admin });
});

/** The parts of a 401 body that must not tell one failure from another. */
async function unauthorizedBody(res: Response, path: string) {
  expect(res.status).toBe(401);
  const body = await problemOf(res);
  expect(body.code).toBe('unauthorized');
  expect(body.instance).toBe(path);
  const { requestId, instance, ...rest } = body;
  expect(requestId).toBeTruthy();
  expect(instance).toBeTruthy();
  return rest;
}

describe('authentication', () => {
  it('accepts a key as Authorization: Bearer and as X-API-Token', async () => {
    const bearer = await send('/api/v1/agents?pageSize=1', { key: null, headers: { Authorization: `Bearer ${admin}` } });
    expect(bearer.status).toBe(200);
    const lowerScheme = await send('/api/v1/agents?pageSize=1', { key: null, headers: { Authorization: `bearer ${admin}` } });
    expect(lowerScheme.status).toBe(200);
    const token = await send('/api/v1/agents?pageSize=1', { key: null, headers: { 'X-API-Token': admin } });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { data: unknown[] };
    expect(Array.isArray(body.data)).toBe(true);
  });

  it('answers every kind of bad credential with the same 401 body', async () => {
    const path = '/api/v1/agents';
    const [revoked, expiring, rotatedGrace] = await Promise.all([
      createKey({ scopes: ['read'], by: admin }),
      createKey({ scopes: ['read'], by: admin, expiresAt: new Date(Date.now() + 1000).toISOString() }),
      createKey({ scopes: ['read'], by: admin }),
    ]);
    // All three work before anything happens to them.
    for (const k of [revoked, expiring, rotatedGrace]) expect((await send(path, { key: k.secret })).status).toBe(200);

    expect((await api.POST('/api/v1/api-keys/{apiKeyId}/revoke', { params: { path: { apiKeyId: revoked.id } } })).response.status).toBe(200);
    const rotated = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: rotatedGrace.id } }, body: { gracePeriodSeconds: 1 } });
    expect(rotated.response.status).toBe(200);
    expect((await send(path, { key: rotatedGrace.secret })).status).toBe(200); // still in its grace period

    await sleep(1200); // the expiring key and the rotation grace period both end after 1 s

    const unknown = `sbk_${'A'.repeat(43)}`;
    const bodies = [
      await unauthorizedBody(await send(path, { key: null }), path),
      await unauthorizedBody(await send(path, { key: null, headers: { Authorization: 'Bearer' } }), path),
      await unauthorizedBody(await send(path, { key: null, headers: { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), path),
      await unauthorizedBody(await send(path, { key: null, headers: { Authorization: 'Bearer not-a-switchboard-key' } }), path),
      await unauthorizedBody(await send(path, { key: null, headers: { 'X-API-Token': 'garbage' } }), path),
      await unauthorizedBody(await send(path, { key: unknown }), path),
      await unauthorizedBody(await send(path, { key: `${admin}x` }), path),
      await unauthorizedBody(await send(path, { key: revoked.secret }), path),
      await unauthorizedBody(await send(path, { key: expiring.secret }), path),
      await unauthorizedBody(await send(path, { key: rotatedGrace.secret }), path),
    ];
    for (const body of bodies.slice(1)) expect(body).toEqual(bodies[0]);

    // The new secret of the rotated key is unaffected.
    expect((await send(path, { key: rotated.data!.secret })).status).toBe(200);
    // The expired key shows as expired.
    const got = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: expiring.id } } });
    expect(got.data!.status).toBe('expired');
    const expiredList = await api.GET('/api/v1/api-keys', { params: { query: { status: 'expired', pageSize: 100 } } });
    expect(expiredList.data!.data.map((k) => k.id)).toContain(expiring.id);
    expect(expiredList.data!.data.every((k) => k.status === 'expired')).toBe(true);
    const activeList = await api.GET('/api/v1/api-keys', { params: { query: { status: 'active', pageSize: 100 } } });
    expect(activeList.data!.data.map((k) => k.id)).not.toContain(expiring.id);
  });

  it('answers 401 on writes too, before looking at the body, and changes nothing', async () => {
    const name = uniqueName('unauth');
    const res = await send('/api/v1/agents', {
      key: `sbk_${'B'.repeat(43)}`,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json' },
    });
    await unauthorizedBody(res, '/api/v1/agents');
    const invalid = await send('/api/v1/agents', { key: null, method: 'POST', body: '{', headers: { 'Content-Type': 'application/json' } });
    expect(invalid.status).toBe(401);
    const list = await api.GET('/api/v1/agents', { params: { query: { q: name } } });
    expect(list.data!.pagination.total).toBe(0);
  });

  it('does not require credentials on public system routes', async () => {
    for (const path of ['/healthz', '/readyz', '/api/openapi.json', '/api/problems/unauthorized']) {
      expect((await send(path, { key: null })).status, path).toBe(200);
    }
  });

  it('answers 401 on every secured route without a credential', async () => {
    for (const path of ['/api/v1/organization', '/api/v1/applications', '/api/v1/api-keys', '/api/v1/agents']) {
      const res = await send(path, { key: null });
      expect(res.status, path).toBe(401);
      expect((await problemOf(res)).code).toBe('unauthorized');
    }
  });
});

describe('scopes', () => {
  it('a read key reads but may not write (403 forbidden)', async () => {
    const reader = await createKey({ scopes: ['read'], by: admin });
    const r = rawClient({ key: reader.secret });
    const agent = await createAgent(api);

    expect((await r.GET('/api/v1/agents', {})).response.status).toBe(200);
    expect((await r.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: agent.id } } })).response.status).toBe(200);
    expect((await r.GET('/api/v1/organization')).response.status).toBe(200);

    const name = uniqueName('readonly');
    const attempts = [
      await send('/api/v1/agents', {
        key: reader.secret,
        method: 'POST',
        body: JSON.stringify({ name, model: 'gpt-4.1' }),
        headers: { 'Content-Type': 'application/json' },
      }),
      await send(`/api/v1/agents/${agent.id}`, {
        key: reader.secret,
        method: 'PATCH',
        body: JSON.stringify({ name }),
        headers: { 'Content-Type': 'application/json' },
      }),
      await send(`/api/v1/agents/${agent.id}/pause`, { key: reader.secret, method: 'POST' }),
      await send(`/api/v1/agents/${agent.id}`, { key: reader.secret, method: 'DELETE' }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      const body = await problemOf(res);
      expect(body.code).toBe('forbidden');
      expect(body.detail).toContain('write');
    }
    const after = await api.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: agent.id } } });
    expect(after.data).toEqual(agent);
    expect((await api.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
  });

  it('a write key creates agents but may not manage API keys or applications (403)', async () => {
    const writer = await createKey({ scopes: ['read', 'write'], by: admin });
    const w = rawClient({ key: writer.secret });
    const created = await w.POST('/api/v1/agents', { body: { name: uniqueName('by writer'), model: 'gpt-4.1' } as never });
    expect(created.response.status).toBe(201);

    const attempts: [string, RequestInit][] = [
      ['/api/v1/api-keys', {}],
      ['/api/v1/api-keys', { method: 'POST', body: JSON.stringify({ name: 'escalate', scopes: ['admin'] }), headers: { 'Content-Type': 'application/json' } }],
      [`/api/v1/api-keys/${writer.id}`, {}],
      [`/api/v1/api-keys/${writer.id}`, { method: 'PATCH', body: JSON.stringify({ scopes: ['admin'] }), headers: { 'Content-Type': 'application/json' } }],
      [`/api/v1/api-keys/${writer.id}/rotate`, { method: 'POST' }],
      ['/api/v1/applications', {}],
      ['/api/v1/applications', { method: 'POST', body: JSON.stringify({ name: 'escalate' }), headers: { 'Content-Type': 'application/json' } }],
    ];
    for (const [path, init] of attempts) {
      const res = await send(path, { ...init, key: writer.secret });
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(403);
      const body = await problemOf(res);
      expect(body.code).toBe('forbidden');
      expect(body.detail).toContain('admin');
    }
    // The key did not escalate itself.
    const self = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: writer.id } } });
    expect(self.data!.scopes).toEqual(['read', 'write']);
  });

  it('a write-only key may also read (scopes nest)', async () => {
    const writer = await createKey({ scopes: ['write'], by: admin });
    expect((await send('/api/v1/agents?pageSize=1', { key: writer.secret })).status).toBe(200);
  });

  it('an admin key may do everything', async () => {
    const res = await send('/api/v1/api-keys?pageSize=1', { key: admin });
    expect(res.status).toBe(200);
    expect((await send('/api/v1/applications?pageSize=1', { key: admin })).status).toBe(200);
  });
});
