import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateKey, createKeyCache, modelAllowedForKey, systemClock } from '@switchboard/server';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { createApplication, createKey, freshAdmin, type ApiKeyWithSecret, type Application } from './helpers.js';

/** The keys of this file live in an application of their own, so lists are exact. */
let app: Application;
let admin: ApiKeyWithSecret;
let api: ApiClient;

beforeAll(async () => {
  const bootstrapChild = await freshAdmin();
  app = await createApplication(bootstrapChild, uniqueName('api keys'));
  admin = await createKey({ scopes: ['admin'], by: bootstrapChild, appId: app.id });
  api = rawClient({ key: admin.secret });
});

const KEY_ID = /^key_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const SECRET = /^sbk_[A-Za-z0-9_-]{43,}$/;
const works = async (secret: string) => (await send('/api/v1/agents?pageSize=1', { key: secret })).status;

const newKey = (scopes: ('read' | 'write' | 'admin')[] = ['read'], extra: { name?: string; expiresAt?: string } = {}) =>
  createKey({ scopes, by: admin.secret, ...extra });

describe('create and read', () => {
  it('shows the secret once, at creation; later reads show only the prefix', async () => {
    const name = uniqueName('ci key');
    const res = await send('/api/v1/api-keys', {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ name, scopes: ['read', 'write'] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as ApiKeyWithSecret;
    expect(created).toEqual({
      id: expect.stringMatching(KEY_ID),
      object: 'api_key',
      applicationId: app.id,
      name,
      scopes: ['read', 'write'],
      allowedModels: null,
      apiVersion: null,
      prefix: created.secret.slice(0, 12),
      status: 'active',
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      previousSecretExpiresAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      secret: expect.stringMatching(SECRET),
    });
    expect(res.headers.get('location')).toBe(`/api/v1/api-keys/${created.id}`);
    expect(res.headers.get('etag')).toBeTruthy();

    const got = await send(`/api/v1/api-keys/${created.id}`, { key: admin.secret });
    expect(got.status).toBe(200);
    const text = await got.text();
    const read = JSON.parse(text) as Record<string, unknown>;
    expect(read).not.toHaveProperty('secret');
    expect(read.prefix).toBe(created.secret.slice(0, 12));
    expect(text).not.toContain(created.secret);
    const { secret, ...withoutSecret } = created;
    expect(secret).toBeTruthy();
    expect(read).toEqual(withoutSecret);

    const list = await send('/api/v1/api-keys?pageSize=100', { key: admin.secret });
    const listText = await list.text();
    expect(listText).not.toContain(created.secret);
    expect(listText).not.toContain(admin.secret);
    const items = (JSON.parse(listText) as { data: Record<string, unknown>[] }).data;
    expect(items.find((k) => k.id === created.id)).toEqual(withoutSecret);
    expect(items.every((k) => !('secret' in k))).toBe(true);
  });

  it('gives every key a distinct secret', async () => {
    const keys = await Promise.all([newKey(), newKey(), newKey()]);
    expect(new Set(keys.map((k) => k.secret)).size).toBe(3);
    expect(new Set(keys.map((k) => k.id)).size).toBe(3);
  });

  it('rejects invalid keys with 422: no scopes, unknown scopes, duplicate scopes, expiry in the past', async () => {
    const name = uniqueName('invalid key');
    for (const [body, pointer] of [
      [{ name, scopes: [] }, '/scopes'],
      [{ name, scopes: ['root'] }, '/scopes/0'],
      [{ name, scopes: ['read', 'read'] }, '/scopes'],
      [{ name }, '/scopes'],
      [{ name, scopes: ['read'], expiresAt: new Date(Date.now() - 60_000).toISOString() }, '/expiresAt'],
      [{ name, scopes: ['read'], expiresAt: 'tomorrow' }, '/expiresAt'],
    ] as const) {
      const res = await send('/api/v1/api-keys', {
        key: admin.secret,
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status, JSON.stringify(body)).toBe(422);
      const problem = await problemOf(res);
      expect(problem.code).toBe('validation-error');
      expect(
        problem.errors!.map((e) => e.pointer),
        JSON.stringify(body),
      ).toContain(pointer);
    }
    const list = await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } });
    expect(list.data!.data.some((k) => k.name === name)).toBe(false);
  });

  it('compares expiresAt as an instant, whatever its UTC offset', async () => {
    const hour = 3600_000;
    // An hour ahead, written in UTC-05:00: its text sorts before "now" in UTC, but it is in the future.
    const future = new Date(Date.now() + hour - 5 * hour).toISOString().replace('Z', '-05:00');
    const ok = await send('/api/v1/api-keys', {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ name: uniqueName('tz future'), scopes: ['read'], expiresAt: future }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(ok.status).toBe(201);
    const created = (await ok.json()) as ApiKeyWithSecret;
    expect(Date.parse(created.expiresAt!)).toBe(Date.parse(future));
    expect(created.status).toBe('active');
    expect(await works(created.secret)).toBe(200);

    // An hour ago, written in UTC+05:00: its text sorts after "now" in UTC, but it is in the past.
    const name = uniqueName('tz past');
    const past = new Date(Date.now() - hour + 5 * hour).toISOString().replace('Z', '+05:00');
    const rejected = await send('/api/v1/api-keys', {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ name, scopes: ['read'], expiresAt: past }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(rejected.status).toBe(422);
    expect((await problemOf(rejected)).errors!.map((e) => e.pointer)).toContain('/expiresAt');
    const list = await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } });
    expect(list.data!.data.some((k) => k.name === name)).toBe(false);
  });

  it('answers creation and rotation with the ETag of the key itself, usable in If-Match', async () => {
    const res = await send('/api/v1/api-keys', {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ name: uniqueName('etag'), scopes: ['read'] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as ApiKeyWithSecret;
    const path = `/api/v1/api-keys/${created.id}`;
    const current = (await send(path, { key: admin.secret })).headers.get('etag');
    expect(res.headers.get('etag')).toBe(current);
    const renamed = await send(path, {
      key: admin.secret,
      method: 'PATCH',
      body: JSON.stringify({ name: 'renamed' }),
      headers: { 'Content-Type': 'application/merge-patch+json', 'If-Match': res.headers.get('etag')! },
    });
    expect(renamed.status).toBe(200);

    const rotated = await send(`${path}/rotate`, {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ gracePeriodSeconds: 0 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('etag')).toBe((await send(path, { key: admin.secret })).headers.get('etag'));
  });

  it('sets lastUsedAt once the key is used', async () => {
    const k = await newKey();
    expect(k.lastUsedAt).toBeNull();
    const before = Date.now();
    expect(await works(k.secret)).toBe(200);
    const got = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: k.id } } });
    expect(got.data!.lastUsedAt).not.toBeNull();
    expect(Date.parse(got.data!.lastUsedAt!)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('answers 404 for an unknown key id and 422 for a malformed one', async () => {
    const unknown = await send('/api/v1/api-keys/key_01jd4x7p2kf8q6v3b9m5t0s1ab', { key: admin.secret });
    expect(unknown.status).toBe(404);
    expect((await problemOf(unknown)).code).toBe('not-found');
    const malformed = await send(`/api/v1/api-keys/${admin.secret}`, { key: admin.secret });
    expect(malformed.status).toBe(422);
  });
});

describe('update', () => {
  it('changes name and scopes by merge patch, leaving the other alone', async () => {
    const k = await newKey(['read', 'write'], { name: 'original' });
    const renamed = await send(`/api/v1/api-keys/${k.id}`, {
      key: admin.secret,
      method: 'PATCH',
      body: JSON.stringify({ name: 'renamed' }),
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ name: 'renamed', scopes: ['read', 'write'] });

    const narrowed = await api.PATCH('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: k.id } }, body: { scopes: ['read'] } });
    expect(narrowed.response.status).toBe(200);
    expect(narrowed.data).toMatchObject({ name: 'renamed', scopes: ['read'] });
    expect(narrowed.data).not.toHaveProperty('secret');

    // The new scopes apply at once, and the secret is unchanged.
    expect(await works(k.secret)).toBe(200);
    const write = await send('/api/v1/agents', {
      key: k.secret,
      method: 'POST',
      body: JSON.stringify({ name: 'x', model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(write.status).toBe(403);
  });

  it('rejects an invalid patch', async () => {
    const k = await newKey();
    for (const body of [{}, { scopes: [] }, { scopes: null }, { name: null }, { secret: 'sbk_x' }, { status: 'revoked' }]) {
      const res = await send(`/api/v1/api-keys/${k.id}`, {
        key: admin.secret,
        method: 'PATCH',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/merge-patch+json' },
      });
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    const got = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: k.id } } });
    expect(got.data!.scopes).toEqual(['read']);
    expect(got.data!.status).toBe('active');
  });
});

describe('revoke', () => {
  it('revokes at once; revoking again is 409 invalid-transition', async () => {
    const k = await newKey();
    expect(await works(k.secret)).toBe(200);
    const res = await api.POST('/api/v1/api-keys/{apiKeyId}/revoke', { params: { path: { apiKeyId: k.id } } });
    expect(res.response.status).toBe(200);
    expect(res.data!.status).toBe('revoked');
    expect(res.data!.revokedAt).not.toBeNull();
    expect(res.data).not.toHaveProperty('secret');
    expect(await works(k.secret)).toBe(401);

    const again = await send(`/api/v1/api-keys/${k.id}/revoke`, { key: admin.secret, method: 'POST' });
    expect(again.status).toBe(409);
    const problem = await problemOf(again);
    expect(problem.code).toBe('invalid-transition');
    expect(problem.detail).toContain('revoked');
  });

  it('a revoked key cannot be rotated back to life (409)', async () => {
    const k = await newKey();
    expect((await api.POST('/api/v1/api-keys/{apiKeyId}/revoke', { params: { path: { apiKeyId: k.id } } })).response.status).toBe(200);
    const res = await send(`/api/v1/api-keys/${k.id}/rotate`, {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ gracePeriodSeconds: 0 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.code).toBe('invalid-transition');
    expect(problem.detail).toContain('revoked');
    expect(await works(k.secret)).toBe(401);
  });

  it('revoking a rotated key also stops its previous secret', async () => {
    const k = await newKey();
    const rotated = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: k.id } }, body: { gracePeriodSeconds: 600 } });
    expect(rotated.response.status).toBe(200);
    expect(await works(k.secret)).toBe(200);
    expect((await api.POST('/api/v1/api-keys/{apiKeyId}/revoke', { params: { path: { apiKeyId: k.id } } })).response.status).toBe(200);
    expect(await works(k.secret)).toBe(401);
    expect(await works(rotated.data!.secret)).toBe(401);
  });
});

describe('rotate', () => {
  it('with a grace period, both secrets work and previousSecretExpiresAt is set', async () => {
    const k = await newKey(['read', 'write'], { name: 'rotating' });
    const before = Date.now();
    const res = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: k.id } }, body: { gracePeriodSeconds: 60 } });
    expect(res.response.status).toBe(200);
    const rotated = res.data!;
    expect(rotated.id).toBe(k.id);
    expect(rotated.name).toBe('rotating');
    expect(rotated.scopes).toEqual(['read', 'write']);
    expect(rotated.secret).toMatch(SECRET);
    expect(rotated.secret).not.toBe(k.secret);
    expect(rotated.prefix).toBe(rotated.secret.slice(0, 12));
    const graceEnd = Date.parse(rotated.previousSecretExpiresAt!);
    expect(graceEnd).toBeGreaterThanOrEqual(before + 59_000);
    expect(graceEnd).toBeLessThanOrEqual(Date.now() + 61_000);

    expect(await works(k.secret)).toBe(200);
    expect(await works(rotated.secret)).toBe(200);
    const got = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: k.id } } });
    expect(got.data!.previousSecretExpiresAt).toBe(rotated.previousSecretExpiresAt);
    expect(got.data!.prefix).toBe(rotated.secret.slice(0, 12));
    expect(got.data).not.toHaveProperty('secret');
  });

  it('with gracePeriodSeconds 0, the old secret stops at once', async () => {
    const k = await newKey();
    const res = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: k.id } }, body: { gracePeriodSeconds: 0 } });
    expect(res.response.status).toBe(200);
    expect(res.data!.previousSecretExpiresAt).toBeNull();
    expect(await works(k.secret)).toBe(401);
    expect(await works(res.data!.secret)).toBe(200);
  });

  it('without a body, the previous secret keeps working for the default 24 hours', async () => {
    const k = await newKey();
    const before = Date.now();
    const res = await send(`/api/v1/api-keys/${k.id}/rotate`, { key: admin.secret, method: 'POST' });
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as ApiKeyWithSecret;
    const graceEnd = Date.parse(rotated.previousSecretExpiresAt!);
    expect(graceEnd).toBeGreaterThanOrEqual(before + 86_399_000);
    expect(graceEnd).toBeLessThanOrEqual(Date.now() + 86_401_000);
    expect(await works(k.secret)).toBe(200);
  });

  it('rotating twice: the newest secret and the one before it work', async () => {
    const k = await newKey();
    const r1 = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: k.id } }, body: { gracePeriodSeconds: 600 } });
    const r2 = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: k.id } }, body: { gracePeriodSeconds: 600 } });
    expect(r2.response.status).toBe(200);
    expect(await works(r1.data!.secret)).toBe(200);
    expect(await works(r2.data!.secret)).toBe(200);
  });

  it('rejects a grace period out of range', async () => {
    const k = await newKey();
    for (const gracePeriodSeconds of [-1, 604_801, 1.5, '60']) {
      const res = await send(`/api/v1/api-keys/${k.id}/rotate`, {
        key: admin.secret,
        method: 'POST',
        body: JSON.stringify({ gracePeriodSeconds }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status, String(gracePeriodSeconds)).toBe(422);
    }
    expect(await works(k.secret)).toBe(200);
  });
});

describe('list', () => {
  it('filters by status', async () => {
    const active = await newKey();
    const revoked = await newKey();
    expect((await api.POST('/api/v1/api-keys/{apiKeyId}/revoke', { params: { path: { apiKeyId: revoked.id } } })).response.status).toBe(200);

    const all = (await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } })).data!;
    const activeList = (await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100, status: 'active' } } })).data!;
    const revokedList = (await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100, status: 'revoked' } } })).data!;

    expect(activeList.data.map((k) => k.id)).toContain(active.id);
    expect(activeList.data.map((k) => k.id)).not.toContain(revoked.id);
    expect(activeList.data.every((k) => k.status === 'active')).toBe(true);
    expect(revokedList.data.map((k) => k.id)).toContain(revoked.id);
    expect(revokedList.data.map((k) => k.id)).not.toContain(active.id);
    expect(revokedList.data.every((k) => k.status === 'revoked')).toBe(true);
    expect(activeList.pagination.total).toBe(all.data.filter((k) => k.status === 'active').length);
    expect(revokedList.pagination.total).toBe(all.data.filter((k) => k.status === 'revoked').length);
    expect(all.data.every((k) => k.applicationId === app.id)).toBe(true);

    const bad = await send('/api/v1/api-keys?status=lost', { key: admin.secret });
    expect(bad.status).toBe(422);
  });

  it('lists newest first, and sorts by name', async () => {
    const list = (await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } })).data!;
    const created = list.data.map((k) => k.createdAt);
    expect(created).toEqual([...created].sort().reverse());
    const byName = (await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100, sort: 'name' } } })).data!;
    expect(byName.pagination.total).toBe(list.pagination.total);
    expect(new Set(byName.data.map((k) => k.id))).toEqual(new Set(list.data.map((k) => k.id)));
  });
});

describe('allowed models', () => {
  const db = inspectDatabase();
  afterAll(() => db.destroy());
  const create = (body: Record<string, unknown>) =>
    send('/api/v1/api-keys', {
      key: admin.secret,
      method: 'POST',
      body: JSON.stringify({ name: uniqueName('models key'), scopes: ['read'], ...body }),
      headers: { 'Content-Type': 'application/json' },
    });
  const patchKey = (id: string, body: unknown) =>
    send(`/api/v1/api-keys/${id}`, {
      key: admin.secret,
      method: 'PATCH',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });

  it('are every alias (null) unless listed; a list is kept as given, and stored as JSON', async () => {
    expect((await newKey()).allowedModels).toBeNull();
    const res = await create({ allowedModels: ['gpt-4.1', 'support-default'] });
    expect(res.status).toBe(201);
    const key = (await res.json()) as ApiKeyWithSecret;
    expect(key.allowedModels).toEqual(['gpt-4.1', 'support-default']);
    const read = await api.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: key.id } } });
    expect(read.data!.allowedModels).toEqual(['gpt-4.1', 'support-default']);
    const listed = await api.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } });
    expect(listed.data!.data.find((k) => k.id === key.id)!.allowedModels).toEqual(['gpt-4.1', 'support-default']);
    const row = await db('api_keys').where({ id: key.id }).first();
    expect(JSON.parse(row.allowed_models as string)).toEqual(['gpt-4.1', 'support-default']);
    // An empty list allows no alias: it is kept, not read as "every alias".
    expect(((await (await create({ allowedModels: [] })).json()) as ApiKeyWithSecret).allowedModels).toEqual([]);
  });

  it('are replaced as a whole by a patch, kept by a patch of other fields, and null allows every alias again', async () => {
    const key = (await (await create({ allowedModels: ['a', 'b'] })).json()) as ApiKeyWithSecret;
    expect(await (await patchKey(key.id, { allowedModels: ['c'] })).json()).toMatchObject({ allowedModels: ['c'] });
    expect(await (await patchKey(key.id, { name: 'renamed' })).json()).toMatchObject({ name: 'renamed', allowedModels: ['c'] });
    expect(await (await patchKey(key.id, { allowedModels: null })).json()).toMatchObject({ allowedModels: null });
    expect((await db('api_keys').where({ id: key.id }).first()).allowed_models).toBeNull();
    // Rotation keeps them.
    await patchKey(key.id, { allowedModels: ['d'] });
    const rotated = await api.POST('/api/v1/api-keys/{apiKeyId}/rotate', { params: { path: { apiKeyId: key.id } }, body: { gracePeriodSeconds: 0 } });
    expect(rotated.data!.allowedModels).toEqual(['d']);
  });

  it('refuse what is not a list of distinct aliases (422)', async () => {
    const id = (await newKey()).id;
    for (const allowedModels of ['gpt-4.1', ['has space'], [''], ['a', 'a'], Array.from({ length: 101 }, (_, i) => `m${i}`), [42]]) {
      const created = await create({ allowedModels });
      expect(created.status, JSON.stringify(allowedModels)).toBe(422);
      expect((await problemOf(created)).errors!.map((e) => e.pointer).join(' ')).toContain('/allowedModels');
      expect((await patchKey(id, { allowedModels })).status, JSON.stringify(allowedModels)).toBe(422);
    }
  });

  it('allow an alias only when the key has no list or names it exactly', () => {
    expect(modelAllowedForKey(null, 'gpt-4.1')).toBe(true);
    expect(modelAllowedForKey([], 'gpt-4.1')).toBe(false);
    expect(modelAllowedForKey(['gpt-4.1', 'default'], 'default')).toBe(true);
    expect(modelAllowedForKey(['gpt-4.1'], 'gpt-4.1-mini')).toBe(false);
    expect(modelAllowedForKey(['gpt-4.1'], 'GPT-4.1')).toBe(false);
  });

  describe('in the authenticated identity', () => {
    let local: InProcessServer;
    beforeAll(async () => {
      local = await startInProcessServer(systemClock);
    });
    afterAll(() => local?.stop());

    it('are carried by the key identity, and a change reaches a cached identity on the next lookup', async () => {
      const call = (path: string, method: string, body?: unknown) =>
        fetch(`${local.baseUrl}${path}`, {
          method,
          headers: { Authorization: `Bearer ${local.adminKey}`, 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const key = (await (
        await call('/api/v1/api-keys', 'POST', { name: 'gateway', scopes: ['read'], allowedModels: ['gpt-4.1'] })
      ).json()) as ApiKeyWithSecret;
      // A cache kept the way the server keeps its own: forgetting the keys the bus says changed.
      const cache = createKeyCache(60_000);
      local.server.bus.onKeyChanges((ids) => cache.forget(ids));
      expect((await authenticateKey(local.server.db, key.secret, cache)).allowedModels).toEqual(['gpt-4.1']);
      expect((await call(`/api/v1/api-keys/${key.id}`, 'PATCH', { allowedModels: ['default'] })).status).toBe(200);
      expect((await authenticateKey(local.server.db, key.secret, cache)).allowedModels).toEqual(['default']);
      expect((await call(`/api/v1/api-keys/${key.id}`, 'PATCH', { allowedModels: null })).status).toBe(200);
      expect((await authenticateKey(local.server.db, key.secret, cache)).allowedModels).toBeNull();
    });
  });
});
