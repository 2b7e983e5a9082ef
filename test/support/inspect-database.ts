import knexFactory, { type Knex } from 'knex';
import { inject } from 'vitest';

/** A read connection to the shared server's database, to check what it stores at rest. */
export function inspectDatabase(): Knex {
  const url = inject('databaseUrl');
  return inject('databaseKind') === 'postgres'
    ? knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
    : knexFactory({ client: 'better-sqlite3', connection: { filename: url, options: { readonly: true } }, useNullAsDefault: true });
}
