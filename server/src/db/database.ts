import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config/config.js';
import { migrationSource } from './migrations/index.js';
import { dialectOf, replacePrepare, type SqliteConnection } from './knex-internals.js';
import { prepareStatements, type PgConnection } from './prepared-statements.js';
import { attachReader, readerOf, statementCache } from './statements.js';

export type Db = Knex;
export type Executor = Knex | Knex.Transaction;

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
        afterCreate: (conn: SqliteConnection & { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
          // knex prepares every query afresh; the connection keeps its prepared statements instead.
          replacePrepare(conn, statementCache(conn.prepare.bind(conn)));
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          // Pages read through a memory map instead of a read() each (file-backed: the OS may drop them).
          conn.pragma('mmap_size = 268435456');
          // Checkpoint every 40 MB of WAL rather than 4 MB: a checkpoint copies and syncs pages inside
          // the COMMIT that crosses the threshold, and the hot pages rewritten meanwhile are copied once.
          conn.pragma('wal_autocheckpoint = 10000');
          done(null, conn);
        },
      },
    });
  } else {
    db = knexFactory({
      client: 'pg',
      connection: config.url,
      pool: {
        min: 0,
        max: 10,
        afterCreate: (conn: PgConnection, done: (err: Error | null, conn: unknown) => void) => {
          prepareStatements(conn);
          done(null, conn);
        },
      },
    });
  }
  // During a rolling upgrade a replica of the previous release restarts on a database the new one has
  // migrated further: knex would refuse the migrations it does not know; the rules in deploy/UPGRADING.md
  // keep them harmless to it, and `newerMigrations` tells the operator.
  await db.migrate.latest({ migrationSource, disableMigrationsListValidation: true });
  if (config.client === 'sqlite' && config.filename !== ':memory:') await attachReader(db, config.filename);
  return db;
}

/** Migrations the database has that this server does not know: a newer release has migrated it. */
export async function newerMigrations(db: Db): Promise<string[]> {
  const known = new Set(await migrationSource.getMigrations([]));
  const applied = await db('knex_migrations').pluck<string[]>('name');
  return applied.filter((name) => !known.has(name)).sort();
}

/** Closes what `openDatabase` opened. */
export async function closeDatabase(db: Db): Promise<void> {
  readerOf(db)?.close();
  await db.destroy();
}

/** Fails when the database cannot be reached. */
export async function checkConnection(db: Executor): Promise<void> {
  await db.raw('select 1');
}

export const isPostgres = (db: Executor) => dialectOf(db) === 'pg';

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null | undefined;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
