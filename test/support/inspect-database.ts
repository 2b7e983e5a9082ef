import knexFactory, { type Knex } from 'knex';
import { inject } from 'vitest';
import type { TestDatabase } from './databases.js';

/** A read connection to a database, to check what a server stores at rest. */
export function inspectDatabaseAt(database: Pick<TestDatabase, 'url' | 'kind'>): Knex {
  return database.kind === 'postgres'
    ? knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } })
    : knexFactory({ client: 'better-sqlite3', connection: { filename: database.url, options: { readonly: true } }, useNullAsDefault: true });
}

/** A read connection to the shared server's database. */
export const inspectDatabase = (): Knex => inspectDatabaseAt({ url: inject('databaseUrl'), kind: inject('databaseKind') });
