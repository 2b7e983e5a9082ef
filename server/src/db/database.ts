import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config/config.js';
import { migrationSource } from './migrations/index.js';

export type Db = Knex;
export type Executor = Knex | Knex.Transaction;

type SqliteConnection = { pragma(s: string): unknown; prepare(sql: string): unknown };

/** Statements kept per connection: a service runs the same few hundred queries over and over. */
const PREPARED_STATEMENTS = 1000;

/**
 * knex prepares every query afresh, which costs more than running most of them: the connection
 * keeps its prepared statements by SQL text instead (least recently used dropped first). SQLite
 * re-prepares a kept statement by itself when a migration changes the schema.
 */
function reusePreparedStatements(conn: SqliteConnection) {
  const prepare = conn.prepare.bind(conn);
  const statements = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (statement) statements.delete(sql);
    else statement = prepare(sql);
    statements.set(sql, statement);
    if (statements.size > PREPARED_STATEMENTS) statements.delete(statements.keys().next().value!);
    return statement;
  };
}

/** Opens the configured database (SQLite file or PostgreSQL) and brings its schema up to date. */
export async function openDatabase(config: Config['database']): Promise<Db> {
  let db: Knex;
  if (config.client === 'sqlite') {
    if (config.filename !== ':memory:') mkdirSync(dirname(config.filename), { recursive: true });
    db = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: config.filename },
      useNullAsDefault: true,
      // One connection: SQLite has a single writer, and knex serialises transactions on it.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
          reusePreparedStatements(conn);
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        },
      },
    });
  } else {
    db = knexFactory({ client: 'pg', connection: config.url, pool: { min: 0, max: 10 } });
  }
  await db.migrate.latest({ migrationSource });
  return db;
}

export const isPostgres = (db: Executor) => (db as unknown as { client: { config: { client: string } } }).client.config.client === 'pg';

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
