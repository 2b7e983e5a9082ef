import type { Knex } from 'knex';

/**
 * Everything this server relies on in knex beyond its documented API, in one place: the SQLite fast
 * path (statements.ts, group-commit.ts) and the after-commit hook of transactions knex opens
 * (after-commit.ts) stand on these. test/server/knex-internals.test.ts checks each against a real
 * knex, so a knex upgrade that changes one fails there first.
 */

type Client = { config: { client: string }; acquireConnection(): Promise<unknown>; releaseConnection(conn: unknown): Promise<unknown> };

/** What knex's better-sqlite3 dialect calls on a connection to run a query: `prepare(sql)`, then `all` or `run`. */
export type SqliteConnection = { prepare: (sql: string) => SqliteStatement };
export type SqliteStatement = { all(bindings: unknown[]): unknown[]; run(bindings: unknown[]): unknown };

/**
 * The knex client behind a knex instance, a transaction or a query builder. A transaction has a
 * client of its own (bound to the connection it holds); a query has its knex's or transaction's.
 */
export const clientOf = (db: Knex | Knex.Transaction | Knex.QueryBuilder): object => db.client as object;

/** The dialect the database was opened with (knex's `client` option: 'better-sqlite3', 'pg'). */
export const dialectOf = (db: Knex | Knex.Transaction): string => (db.client as Client).config.client;

/** Whether `db` is a transaction (or a savepoint in one): knex marks the transactions it hands out. */
export const isTransaction = (db: Knex | Knex.Transaction): db is Knex.Transaction => (db as { isTransaction?: boolean }).isTransaction === true;

/** The driver's connection a transaction holds: its client hands out that one connection, never the pool's. */
export const heldConnection = (trx: Knex.Transaction): Promise<unknown> => (trx.client as Client).acquireConnection();

/**
 * Runs `work` with one of the pool's driver connections to itself, returned to the pool after:
 * for what knex's query path cannot send (several statements in one round trip).
 */
export async function withPooledConnection<T>(db: Knex, work: (conn: unknown) => Promise<T>): Promise<T> {
  const client = db.client as Client;
  const conn = await client.acquireConnection();
  try {
    return await work(conn);
  } finally {
    await client.releaseConnection(conn);
  }
}

/** The transaction a savepoint was opened in; none for a transaction of its own. */
export const outerTransaction = (trx: Knex.Transaction): Knex.Transaction | undefined => trx.parentTransaction;

/**
 * Settles when knex has ended a transaction it opened around a callback: resolves once COMMIT (for
 * a savepoint, RELEASE) has run, rejects with the error the callback failed with, after ROLLBACK.
 */
export const transactionEnded = (trx: Knex.Transaction): Promise<unknown> => trx.executionPromise;

/**
 * knex's better-sqlite3 dialect prepares every query afresh through the connection's own `prepare`:
 * replacing that function on the connection (when the pool creates it) decides what knex runs.
 */
export function replacePrepare(connection: SqliteConnection, prepare: (sql: string) => SqliteStatement): void {
  connection.prepare = prepare;
}

/** A value bound as knex's better-sqlite3 dialect binds it (Dates as epoch milliseconds, booleans as 0 and 1). */
export const sqliteValue = (v: unknown) => (v instanceof Date ? v.valueOf() : typeof v === 'boolean' ? Number(v) : v);

type TarnPool = { numUsed(): number; numFree(): number; numPendingAcquires(): number; numPendingCreates(): number; max: number };

/** The connection pool's counts (knex's pool is tarn's; it exists once knex has been used). */
export function poolStats(db: Knex): { used: number; free: number; pendingAcquires: number; pendingCreates: number; max: number } {
  const pool = (db.client as { pool?: TarnPool }).pool;
  return {
    used: pool?.numUsed() ?? 0,
    free: pool?.numFree() ?? 0,
    pendingAcquires: pool?.numPendingAcquires() ?? 0,
    pendingCreates: pool?.numPendingCreates() ?? 0,
    max: pool?.max ?? 0,
  };
}
