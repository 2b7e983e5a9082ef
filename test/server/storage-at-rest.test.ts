import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectDatabase } from '../support/inspect-database.js';
import { rawClient } from '../support/client.js';
import { freshAdmin } from './helpers.js';

const db = inspectDatabase();
afterAll(() => db.destroy());

const rowsContaining = async (table: string, needle: string) =>
  ((await db(table).select()) as Record<string, unknown>[]).filter((row) => JSON.stringify(row).includes(needle));

describe('what the database keeps', () => {
  it('stores API keys only as hashes, even in the record that lets a creation be replayed', async () => {
    const api = rawClient({ key: await freshAdmin() });
    const idempotencyKey = randomUUID();
    const created = await api.POST('/api/v1/api-keys', { body: { name: 'at rest', scopes: ['read'] }, headers: { 'Idempotency-Key': idempotencyKey } });
    expect(created.response.status).toBe(201);
    const secret = created.data!.secret;

    const replay = await api.POST('/api/v1/api-keys', { body: { name: 'at rest', scopes: ['read'] }, headers: { 'Idempotency-Key': idempotencyKey } });
    expect(replay.response.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.data!.secret).toBe(secret);

    for (const table of ['api_keys', 'idempotency_keys']) {
      expect(await rowsContaining(table, secret), table).toEqual([]);
      expect(await rowsContaining(table, idempotencyKey), table).toEqual([]);
    }
    expect((await db('api_keys').where({ id: created.data!.id }).first()).secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
