import type { Knex } from 'knex';
import type { components } from '../../server/src/generated/openapi.js';
import { call, type Conn } from './run-helpers.js';

export type Secret = components['schemas']['Secret'];

export async function newSecret(conn: Conn, name: string, value: string, description?: string): Promise<Secret> {
  const r = await call<Secret>(conn, 'POST', '/api/v1/secrets', { name, value, ...(description ? { description } : {}) });
  if (r.status !== 201) throw new Error(`creating a secret failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A name no other test uses: secrets' names are unique per application. */
export const secretName = (stem: string) => `${stem}_${Math.random().toString(36).slice(2, 10).toUpperCase()}`;

/** Every row of every table of the database that holds `needle` in some column. */
export async function rowsHolding(db: Knex, needle: string): Promise<{ table: string; row: unknown }[]> {
  const postgres = db.client.config.client === 'pg';
  const tables = postgres
    ? await db('information_schema.tables').where({ table_schema: 'public' }).select<{ name: string }[]>('table_name as name')
    : await db('sqlite_master').where({ type: 'table' }).select<{ name: string }[]>('name');
  const hits: { table: string; row: unknown }[] = [];
  for (const { name } of tables) {
    const rows = (await db(name).select()) as Record<string, unknown>[];
    for (const row of rows) {
      const text = JSON.stringify(row, (_, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v));
      if (text.includes(needle)) hits.push({ table: name, row });
    }
  }
  return hits;
}
