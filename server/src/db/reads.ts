import type { Knex } from 'knex';
import type { Executor } from './database.js';

type Statement = { all(bindings: unknown[]): unknown[] };
export type ReadConnection = { all<T>(sql: string, bindings: readonly unknown[]): T[]; close(): void };

/** By knex client: a transaction's queries have a client of their own, so they never use the reader. */
const readers = new WeakMap<object, ReadConnection>();

/** Statements kept per connection: a service runs the same few hundred queries over and over. */
const PREPARED_STATEMENTS = 1000;

/**
 * Prepared statements kept by SQL text (least recently used dropped first): preparing costs more
 * than running most queries. SQLite re-prepares a kept statement itself when the schema changes.
 */
export function statementCache<S>(prepare: (sql: string) => S): (sql: string) => S {
  const statements = new Map<string, S>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement) statements.delete(sql);
    else statement = prepare(sql);
    statements.set(sql, statement);
    if (statements.size > PREPARED_STATEMENTS) statements.delete(statements.keys().next().value!);
    return statement;
  };
}

/**
 * A second connection to a SQLite file for reads outside transactions. In WAL mode it sees every
 * committed write at once and never one in progress, and it does not wait behind knex's single
 * writing connection while a transaction holds it.
 */
export async function attachReader(db: Knex, filename: string): Promise<void> {
  // Loaded here: a server on PostgreSQL never needs the native module.
  const { default: Database } = await import('better-sqlite3');
  const connection = new Database(filename);
  connection.pragma('query_only = ON');
  connection.pragma('busy_timeout = 5000');
  const prepare = statementCache((sql) => connection.prepare(sql) as unknown as Statement);
  readers.set(db.client as object, {
    all: <T>(sql: string, bindings: readonly unknown[]) => prepare(sql).all(bindings.map(sqliteValue)) as T[],
    close: () => connection.close(),
  });
}

export const readerOf = (db: Knex) => readers.get(db.client as object);

// As knex's better-sqlite3 dialect binds them.
const sqliteValue = (v: unknown) => (v instanceof Date ? v.valueOf() : typeof v === 'boolean' ? Number(v) : v);

/** The rows of a SELECT written with `?` placeholders; inside a transaction it runs in it. */
export async function selectRows<T>(db: Executor, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const reader = readers.get(db.client as object);
  if (reader) return reader.all<T>(sql, bindings);
  const result = (await db.raw(sql, bindings as Knex.RawBinding[])) as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

/** The rows of a query built with knex, run like `selectRows`. */
export async function queryRows<T>(query: Knex.QueryBuilder): Promise<T[]> {
  const reader = readers.get(query.client as object);
  if (!reader) return (await query) as T[];
  const { sql, bindings } = query.toSQL();
  return reader.all<T>(sql, bindings);
}
