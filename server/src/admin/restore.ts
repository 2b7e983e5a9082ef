import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileStamp, fsyncPath, sha256Of } from './files.js';
import { refuseRestoreOnPostgres } from './postgres.js';
import { assertNotNewer, schemaOf, type Schema } from './schema.js';
import { assertNotInUse } from './server-lock.js';
import { assertSqliteFile, checkSwitchboardFile, withSqliteFile } from './sqlite-file.js';
import { adminDatabase } from './target.js';

export type RestoreResult = {
  database: string;
  backup: string;
  bytes: number;
  sha256: string;
  schema: Schema;
  /** Where the database it replaced was kept; null when there was none or `keepPrevious` was off. */
  previous: string | null;
  /** Where the server will find its master key: SWITCHBOARD_MASTER_KEY, the master.key beside the database, or null (secrets cannot be opened). */
  masterKey: string | null;
};

/** Secrets are sealed with the master key, which a backup does not hold: the restored database needs the one its server had. */
function masterKeyFor(database: string): string | null {
  if (process.env.SWITCHBOARD_MASTER_KEY) return 'SWITCHBOARD_MASTER_KEY';
  const file = join(dirname(database), 'master.key');
  return existsSync(file) ? file : null;
}

/** The files SQLite keeps beside a database in WAL mode. */
const SIDE_FILES = ['-wal', '-shm'];

/** Moves a database and its side files to `to` (or deletes them), so none is left to pair with the restored file. */
function moveAside(path: string, to: string | null): void {
  for (const suffix of ['', ...SIDE_FILES]) {
    if (!existsSync(path + suffix)) continue;
    if (to) renameSync(path + suffix, to + suffix);
    else rmSync(path + suffix, { force: true });
  }
}

/**
 * Replaces a SQLite database with a backup. The backup is copied beside the database first and the
 * copy checked (SQLite integrity, a Switchboard database, no migration newer than this build's);
 * the database must not be in use; then the current file is moved aside (kept unless told not to)
 * and the copy renamed into its place, so the path holds either database whole, never a mix.
 */
export async function restoreDatabase(options: { backup: string; database?: string; keepPrevious?: boolean }): Promise<RestoreResult> {
  const target = adminDatabase(options.database);
  const backup = resolve(options.backup);
  if (target.client === 'pg') refuseRestoreOnPostgres(target.url, options.backup);
  assertSqliteFile(backup, 'The backup');
  const database = resolve(target.filename);
  mkdirSync(dirname(database), { recursive: true });
  const staged = join(dirname(database), `.${basename(database)}.restore-${process.pid}`);
  let previous: string | null = null;
  let applied: string[];
  try {
    copyFileSync(backup, staged);
    applied = await withSqliteFile(staged, `The backup ${backup}`, async (copy) => {
      const migrations = checkSwitchboardFile(copy, backup, 'The backup');
      await assertNotNewer(`The backup ${backup}`, migrations);
      return migrations;
    });
    fsyncPath(staged);
    if (existsSync(database)) {
      assertSqliteFile(database, 'The database');
      assertNotInUse(database);
      previous = options.keepPrevious === false ? null : `${database}.before-restore-${fileStamp(new Date())}`;
      moveAside(database, previous);
    }
    for (const suffix of SIDE_FILES) rmSync(database + suffix, { force: true });
    renameSync(staged, database);
    fsyncPath(dirname(database));
  } finally {
    rmSync(staged, { force: true });
  }
  return {
    database,
    backup,
    bytes: statSync(database).size,
    sha256: await sha256Of(database),
    schema: schemaOf(applied),
    previous,
    masterKey: masterKeyFor(database),
  };
}
