import type { Knex } from 'knex';
import { tracer } from '../observability/tracing.js';
import type { Executor } from './database.js';
import { clientOf, dialectOf, heldConnection, isTransaction, sqliteValue, type SqliteConnection } from './knex-internals.js';

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
  // Pages read through a memory map instead of a read() each (file-backed: the OS may drop them).
  connection.pragma('mmap_size = 268435456');
  connection.pragma('busy_timeout = 5000');
  // Rows come back as arrays and become objects here: cheaper than better-sqlite3 building each
  // row object with its column names.
  const prepare = statementCache((sql) => {
    const statement = connection.prepare(sql).raw(true);
    const names = statement.columns().map((c) => c.name);
    return { statement, names };
  });
  readers.set(clientOf(db), {
    all: <T>(sql: string, bindings: readonly unknown[]) => {
      const { statement, names } = prepare(sql);
      const rows = traced(sql, () => statement.all(bindings.map(sqliteValue)) as unknown[][]);
      return rows.map((values) => {
        const row: Record<string, unknown> = {};
        for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
        return row as T;
      });
    },
    close: () => connection.close(),
  });
}

/** A statement run here rather than through knex: traced like knex's own (observability/tracing.ts). */
const traced = <T>(sql: string, run: () => T): T => {
  const tracing = tracer();
  return tracing ? tracing.statement(sql, run) : run();
};

export const readerOf = (db: Knex) => readers.get(clientOf(db));

const transactionConnections = new WeakMap<Knex.Transaction, SqliteConnection>();

/**
 * The connection a SQLite transaction holds: statements run on it directly (as kept prepared
 * statements) cost a fraction of a query through knex, and stay inside the transaction.
 */
async function sqliteTransaction(db: Executor): Promise<SqliteConnection | undefined> {
  if (!isTransaction(db) || dialectOf(db) !== 'better-sqlite3') return undefined;
  let connection = transactionConnections.get(db);
  if (!connection) transactionConnections.set(db, (connection = (await heldConnection(db)) as SqliteConnection));
  return connection;
}

/**
 * Rows of a SELECT written with `?` placeholders. Outside a transaction on SQLite it reads on the
 * read connection; in a transaction it runs in it.
 */
export async function selectRows<T>(db: Executor, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const reader = readers.get(clientOf(db));
  return reader ? reader.all<T>(sql, bindings) : writerRows<T>(db, sql, bindings);
}

/** Rows of a statement on the writing connection (in the SQLite transaction directly, else through knex): a write with RETURNING never goes to the read connection. */
export async function writerRows<T>(db: Executor, sql: string, bindings: readonly unknown[]): Promise<T[]> {
  const connection = await sqliteTransaction(db);
  if (connection) return traced(sql, () => connection.prepare(sql).all(bindings.map(sqliteValue)) as T[]);
  const result = (await db.raw(sql, bindings as Knex.RawBinding[])) as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

/** Inserts rows (all with the same columns) like `db(table).insert(rows)`, directly on a SQLite transaction's connection. */
export async function insertRows(db: Executor, table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
  const connection = await sqliteTransaction(db);
  if (!connection) {
    await db(table).insert(rows);
    return;
  }
  const columns = Object.keys(rows[0]!);
  const sql = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`;
  const statement = connection.prepare(sql);
  traced(sql, () => {
    for (const row of rows) statement.run(columns.map((c) => sqliteValue(row[c] ?? null)));
  });
}

/** The rows of a query built with knex, run like `selectRows`. */
export async function queryRows<T>(query: Knex.QueryBuilder): Promise<T[]> {
  const reader = readers.get(clientOf(query));
  if (!reader) return (await query) as T[];
  const { sql, bindings } = query.toSQL();
  return reader.all<T>(sql, bindings);
}

/** A statement without results (SAVEPOINT and the like), directly on a SQLite transaction's connection. */
export async function execute(db: Executor, sql: string): Promise<void> {
  const connection = await sqliteTransaction(db);
  if (connection) traced(sql, () => connection.prepare(sql).run([]));
  else await db.raw(sql);
}
