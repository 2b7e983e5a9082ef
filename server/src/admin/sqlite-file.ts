import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AdminError } from './errors.js';

/** Every SQLite database file starts with these 16 bytes. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Refuses a path that is missing, not a file, or not a SQLite database; `what` names it ("the backup"). */
export function assertSqliteFile(path: string, what: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AdminError(code === 'ENOENT' ? `${what} ${path} does not exist.` : `${what} ${path} cannot be read: ${(err as Error).message}`);
  }
  if (!isFile) throw new AdminError(`${what} ${path} is not a file.`);
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) throw new AdminError(`${what} ${path} is not a SQLite database.`);
}

const isSqliteError = (err: unknown): err is Error & { code: string } => err instanceof Error && /^SQLITE_/.test(String((err as { code?: unknown }).code));

/** Runs `work` on the file, an SQLite failure (corrupt, not a database) said as a refusal naming it (`what`: "The backup /path"). */
export async function withSqliteFile<T>(
  path: string,
  what: string,
  work: (db: Database.Database) => T | Promise<T>,
  options: Database.Options = {},
): Promise<T> {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true, ...options });
    return await work(db);
  } catch (err) {
    if (isSqliteError(err)) throw new AdminError(`${what} cannot be used: ${err.message} (${err.code}).`);
    throw err;
  } finally {
    db?.close();
  }
}

/**
 * Checks a Switchboard SQLite file: SQLite's integrity check passes and its migrations table is
 * there; returns the migrations it records, oldest first.
 */
export function checkSwitchboardFile(db: Database.Database, path: string, what: string): string[] {
  const problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  if (problems.join() !== 'ok') throw new AdminError(`${what} ${path} fails SQLite's integrity check: ${problems.slice(0, 5).join('; ')}`);
  const table = db.prepare("select 1 from sqlite_master where type = 'table' and name = 'knex_migrations'").get();
  if (!table) throw new AdminError(`${what} ${path} is not a Switchboard database: it has no migrations table.`);
  const applied = (db.prepare('select name from knex_migrations order by id').all() as { name: string }[]).map((r) => r.name);
  if (!applied.length) throw new AdminError(`${what} ${path} is not a Switchboard database: its migrations table is empty.`);
  return applied;
}
