import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { agentsMatching, createApplication, createKey, freshAdmin, type Agent } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

function createWithKey(idempotencyKey: string, body: unknown, options: { key?: string; headers?: Record<string, string> } = {}) {
  return send('/api/v1/agents', {
    key: options.key ?? key,
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey, ...options.headers },
  });
}

describe('Idempotency-Key on POST /api/v1/agents', () => {
  it('replays the first response byte for byte and creates nothing new', async () => {
    const name = uniqueName('idem');
    const k = randomUUID();
    const body = JSON.stringify({ name, model: 'gpt-4.1', labels: ['idem'] });
    const first = await createWithKey(k, body);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstText = await first.text();

    for (let i = 0; i < 2; i++) {
      const replay = await createWithKey(k, body);
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(firstText);
      expect(replay.headers.get('location')).toBe(first.headers.get('location'));
      expect(replay.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(replay.headers.get('request-id')).not.toBe(first.headers.get('request-id'));
    }
    const list = await agentsMatching(api, name);
    expect(list.pagination.total).toBe(1);
    expect(list.data[0]!.id).toBe((JSON.parse(firstText) as Agent).id);
  });

  it('answers the same key with another body with 422 idempotency-key-reused, creating nothing', async () => {
    const name = uniqueName('reuse');
    const k = randomUUID();
    expect((await createWithKey(k, { name, model: 'gpt-4.1' })).status).toBe(201);
    const other = await createWithKey(k, { name: `${name} other`, model: 'gpt-4.1' });
    expect(other.status).toBe(422);
    const problem = await problemOf(other);
    expect(problem.code).toBe('idempotency-key-reused');
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect((await agentsMatching(api, name)).pagination.total).toBe(1);

    // Even a body that differs only in formatting is another request: the fingerprint is over the bytes sent.
    const reformatted = await createWithKey(k, JSON.stringify({ name, model: 'gpt-4.1' }, null, 2));
    expect(reformatted.status).toBe(422);
    expect((await problemOf(reformatted)).code).toBe('idempotency-key-reused');
  });

  it('treats the same key on another route as reuse', async () => {
    const k = randomUUID();
    expect((await createWithKey(k, { name: uniqueName('route'), model: 'gpt-4.1' })).status).toBe(201);
    const res = await send('/api/v1/applications', {
      key,
      method: 'POST',
      body: JSON.stringify({ name: uniqueName('route app') }),
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': k },
    });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).code).toBe('idempotency-key-reused');
  });

  it('treats the quoted and the bare form of a key as the same key', async () => {
    const name = uniqueName('quoted');
    const k = randomUUID();
    const body = JSON.stringify({ name, model: 'gpt-4.1' });
    const quoted = await createWithKey(`"${k}"`, body);
    expect(quoted.status).toBe(201);
    const bare = await createWithKey(k, body);
    expect(bare.status).toBe(201);
    expect(bare.headers.get('idempotent-replayed')).toBe('true');
    expect(await bare.text()).toBe(await quoted.text());
    expect((await agentsMatching(api, name)).pagination.total).toBe(1);

    // And the other way round.
    const k2 = randomUUID();
    const name2 = uniqueName('bare first');
    expect((await createWithKey(k2, { name: name2, model: 'gpt-4.1' })).status).toBe(201);
    expect((await createWithKey(`"${k2}"`, { name: name2, model: 'gpt-4.1' })).headers.get('idempotent-replayed')).toBe('true');
    expect((await agentsMatching(api, name2)).pagination.total).toBe(1);
  });

  it('does not store a schema validation failure: the same key then works with a fixed body', async () => {
    const name = uniqueName('fixme');
    const k = randomUUID();
    const bad = await createWithKey(k, { name, model: 'gpt-4.1', colour: 'blue' });
    expect(bad.status).toBe(422);
    expect((await problemOf(bad)).code).toBe('validation-error');
    const again = await createWithKey(k, { name, model: 'gpt-4.1', colour: 'blue' });
    expect(again.status).toBe(422);
    expect((await problemOf(again)).code).toBe('validation-error');
    expect(again.headers.get('idempotent-replayed')).toBeNull();

    const fixed = await createWithKey(k, { name, model: 'gpt-4.1' });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
    expect((await agentsMatching(api, name)).pagination.total).toBe(1);
  });

  it('does not store a rule failure found by the handler either', async () => {
    const name = uniqueName('fix url');
    const k = randomUUID();
    const bad = await createWithKey(k, { name, model: 'gpt-4.1', runtime: 'http' });
    expect(bad.status).toBe(422);
    expect((await problemOf(bad)).code).toBe('validation-error');
    const fixed = await createWithKey(k, { name, model: 'gpt-4.1', runtime: 'http', url: 'https://agents.example.com/x' });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
    expect((await agentsMatching(api, name)).pagination.total).toBe(1);
  });

  it('does not store malformed JSON or a wrong content type', async () => {
    const name = uniqueName('fix json');
    const k = randomUUID();
    expect((await createWithKey(k, '{"name":')).status).toBe(400);
    expect((await createWithKey(k, JSON.stringify({ name, model: 'gpt-4.1' }), { headers: { 'Content-Type': 'text/plain' } })).status).toBe(415);
    const fixed = await createWithKey(k, { name, model: 'gpt-4.1' });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
  });

  it('keeps keys per application', async () => {
    const app2 = await createApplication(key);
    const admin2 = await createKey({ scopes: ['admin'], by: key, appId: app2.id });
    const name = uniqueName('per app');
    const k = randomUUID();
    const body = JSON.stringify({ name, model: 'gpt-4.1' });

    const inApp1 = await createWithKey(k, body);
    expect(inApp1.status).toBe(201);
    const inApp2 = await createWithKey(k, body, { key: admin2.secret });
    expect(inApp2.status).toBe(201);
    expect(inApp2.headers.get('idempotent-replayed')).toBeNull();
    const a1 = (await inApp1.json()) as Agent;
    const a2 = (await inApp2.json()) as Agent;
    expect(a2.id).not.toBe(a1.id);

    // Another key of the same application shares the application's keys.
    const other = await createKey({ scopes: ['write'], by: key, appId: app2.id });
    const replay = await createWithKey(k, body, { key: other.secret });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as Agent).id).toBe(a2.id);

    // An admin key acting in app 2 through X-App-Id uses app 2's keys.
    const viaHeader = await createWithKey(k, body, { headers: { 'X-App-Id': app2.id } });
    expect(viaHeader.headers.get('idempotent-replayed')).toBe('true');
    expect(((await viaHeader.json()) as Agent).id).toBe(a2.id);

    expect((await agentsMatching(api, name)).pagination.total).toBe(1);
    expect((await agentsMatching(rawClient({ key: admin2.secret }), name)).pagination.total).toBe(1);
  });

  it('does not replay a stored response to a key without the scope to make the request', async () => {
    const name = uniqueName('scoped replay');
    const k = randomUUID();
    const body = JSON.stringify({ name, model: 'gpt-4.1' });
    expect((await createWithKey(k, body)).status).toBe(201);
    const reader = await createKey({ scopes: ['read'], by: key });
    const res = await createWithKey(k, body, { key: reader.secret });
    expect(res.status).toBe(403);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect((await problemOf(res)).code).toBe('forbidden');
  });

  it('creates exactly one agent from 50 concurrent identical requests', async () => {
    // Its own key: 50 writes would eat into the budget of the other tests.
    const writer = await createKey({ scopes: ['read', 'write'], by: key });
    const name = uniqueName('concurrent');
    const k = randomUUID();
    const body = JSON.stringify({ name, model: 'gpt-4.1' });
    const responses = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await createWithKey(k, body, { key: writer.secret });
        return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text(), contentType: res.headers.get('content-type') };
      }),
    );
    const statuses = responses.map((r) => r.status);
    expect(
      statuses.every((s) => s === 201),
      JSON.stringify(statuses),
    ).toBe(true);

    const originals = responses.filter((r) => r.status === 201 && r.replayed === null);
    expect(originals).toHaveLength(1);
    const original = originals[0]!;
    for (const r of responses.filter((x) => x.status === 201 && x.replayed !== null)) {
      expect(r.replayed).toBe('true');
      expect(r.text).toBe(original.text);
    }

    const list = await agentsMatching(api, name);
    expect(list.pagination.total).toBe(1);
    expect(list.data[0]!.id).toBe((JSON.parse(original.text) as Agent).id);

    // Once the first finished, a retry is a replay.
    const later = await createWithKey(k, body, { key: writer.secret });
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(await later.text()).toBe(original.text);
  });

  it('without a key, identical requests create one agent each', async () => {
    const name = uniqueName('no key');
    const body = JSON.stringify({ name, model: 'gpt-4.1' });
    for (let i = 0; i < 2; i++) {
      const res = await send('/api/v1/agents', { key, method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      expect(res.status).toBe(201);
    }
    expect((await agentsMatching(api, name)).pagination.total).toBe(2);
  });
});

describe('Idempotency-Key on other creates', () => {
  it('replays an API key creation with the same secret', async () => {
    const k = randomUUID();
    const body = JSON.stringify({ name: uniqueName('idem key'), scopes: ['read'] });
    const init = { key, method: 'POST', body, headers: { 'Content-Type': 'application/json', 'Idempotency-Key': k } };
    const first = await send('/api/v1/api-keys', init);
    expect(first.status).toBe(201);
    const firstText = await first.text();
    const replay = await send('/api/v1/api-keys', init);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(firstText);
    const { secret } = JSON.parse(firstText) as { secret: string };
    expect((await send('/api/v1/agents?pageSize=1', { key: secret })).status).toBe(200);
  });

  it('replays an application creation', async () => {
    const k = randomUUID();
    const name = uniqueName('idem app');
    const init = { key, method: 'POST', body: JSON.stringify({ name }), headers: { 'Content-Type': 'application/json', 'Idempotency-Key': k } };
    const first = await send('/api/v1/applications', init);
    expect(first.status).toBe(201);
    const replay = await send('/api/v1/applications', init);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(await first.text());
    const list = await api.GET('/api/v1/applications', { params: { query: { q: name } } });
    expect(list.data!.pagination.total).toBe(1);
  });
});

function recordsDb() {
  const url = inject('databaseUrl');
  return inject('databaseKind') === 'postgres'
    ? knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
    : knexFactory({ client: 'better-sqlite3', connection: { filename: url }, useNullAsDefault: true });
}

const keyRecord = (db: knexFactory.Knex, idempotencyKey: string) =>
  db('idempotency_keys').where({ key_hash: createHash('sha256').update(idempotencyKey).digest('hex') });

describe('Idempotency-Key records sealed by an earlier release', () => {
  // Earlier releases derived the sealing key with HKDF and wrote no version prefix; their records live 24 hours.
  it('still replays them, and seals new ones with the current key', async () => {
    const db = recordsDb();
    try {
      const k = randomUUID();
      const body = JSON.stringify({ name: uniqueName('sealed before'), model: 'gpt-4.1' });
      const first = await createWithKey(k, body);
      expect(first.status).toBe(201);
      const firstText = await first.text();
      const [row] = await keyRecord(db, k).clone().select('scope', 'response_sealed');
      expect(row.response_sealed).toMatch(/^v2:/);

      const current = Buffer.from(row.response_sealed.slice(3), 'base64');
      const currentKey = createHash('sha256').update(`switchboard idempotent response\n${row.scope}\n${k}`).digest();
      const decipher = createDecipheriv('aes-256-gcm', currentKey, current.subarray(0, 12));
      decipher.setAuthTag(current.subarray(12, 28));
      const stored = Buffer.concat([decipher.update(current.subarray(28)), decipher.final()]);
      expect(JSON.parse(stored.toString('utf8')).body).toBe(firstText);

      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', Buffer.from(hkdfSync('sha256', k, row.scope, 'switchboard idempotent response', 32)), iv);
      const sealed = Buffer.concat([cipher.update(stored), cipher.final()]);
      expect(
        await keyRecord(db, k)
          .clone()
          .update({ response_sealed: Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64') }),
      ).toBe(1);

      const replay = await createWithKey(k, body);
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(firstText);
      expect(replay.headers.get('etag')).toBe(first.headers.get('etag'));
    } finally {
      await db.destroy();
    }
  });
});

describe('Idempotency-Key records left in flight by an earlier release', () => {
  // Servers before group commit recorded a key as in flight before its request ran. During a rolling
  // upgrade such a record may still be held (409, the SDK retries) or abandoned (taken over).
  it('answers 409 while the record is held, and takes it over once its lock has passed', async () => {
    const db = recordsDb();
    try {
      const k = randomUUID();
      const body = JSON.stringify({ name: uniqueName('in flight'), model: 'gpt-4.1' });
      const first = await createWithKey(k, body);
      expect(first.status).toBe(201);
      const record = keyRecord(db, k);
      const inFlight = (lockedUntil: string) =>
        record.clone().update({ state: 'in_flight', response_sealed: null, response_status: null, locked_until: lockedUntil });

      expect(await inFlight(new Date(Date.now() + 60_000).toISOString())).toBe(1);
      const held = await createWithKey(k, body);
      expect(held.status).toBe(409);
      expect((await problemOf(held)).code).toBe('idempotency-in-flight');

      expect(await inFlight(new Date(Date.now() - 1_000).toISOString())).toBe(1);
      const takenOver = await createWithKey(k, body);
      expect(takenOver.status).toBe(201);
      expect(takenOver.headers.get('idempotent-replayed')).toBeNull();
      const replay = await createWithKey(k, body);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(await takenOver.text());
    } finally {
      await db.destroy();
    }
  });
});
