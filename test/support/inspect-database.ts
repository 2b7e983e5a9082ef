import knexFactory, { type Knex } from 'knex';
import { inject } from 'vitest';
import type { TestDatabase } from './databases.js';

/** A read connection to a database (the shared server's by default), to check what it stores at rest. */
export function inspectDatabase(database: Pick<TestDatabase, 'url' | 'kind'> = { url: inject('databaseUrl'), kind: inject('databaseKind') }): Knex {
  return database.kind === 'postgres'
    ? knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } })
    : knexFactory({ client: 'better-sqlite3', connection: { filename: database.url, options: { readonly: true } }, useNullAsDefault: true });
}
