import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AdminError } from './errors.js';
import { fileStamp, fsyncPath, isDirectory, sha256Of } from './files.js';
import { refuseBackupOnPostgres } from './postgres.js';
import { schemaOf, type Schema } from './schema.js';
import { assertSqliteFile, checkSwitchboardFile, withSqliteFile } from './sqlite-file.js';
import { adminDatabase } from './target.js';

export type BackupResult = { database: string; path: string; bytes: number; sha256: string; schema: Schema; durationMs: number };

/**
 * Pages per backup step: all of them. A step reads one consistent snapshot while the server goes on
 * writing (WAL); in small steps, each write the server commits in between restarts the copy.
 */
const ALL_PAGES = 0x7fffffff;

function outputPath(option: string | undefined, stamp: string): string {
  const name = `switchboard-${stamp}.db`;
  let path = resolve(option ?? name);
  if (isDirectory(path)) path = join(path, name);
  if (existsSync(path)) throw new AdminError(`${path} already exists: name a new file, or a directory to write a dated backup in.`);
  if (!isDirectory(dirname(path))) throw new AdminError(`The directory ${dirname(path)} does not exist.`);
  return path;
}

/**
 * Copies a SQLite database with SQLite's online backup, safe while the server runs: into a
 * temporary file beside the output, made one self-contained file (no WAL), checked (integrity,
 * migrations), then renamed into place.
 */
export async function backupDatabase(options: { database?: string; output?: string }): Promise<BackupResult> {
  const started = performance.now();
  const stamp = fileStamp(new Date());
  const target = adminDatabase(options.database);
  if (target.client === 'pg') refuseBackupOnPostgres(target.url, options.output, stamp);
  const source = resolve(target.filename);
  assertSqliteFile(source, 'The database');
  const output = outputPath(options.output, stamp);
  const partial = `${output}.partial-${process.pid}`;
  let applied: string[];
  try {
    await withSqliteFile(source, `The database ${source}`, async (db) => {
      db.pragma('busy_timeout = 5000');
      await db.backup(partial, { progress: () => ALL_PAGES });
    });
    applied = await withSqliteFile(partial, `The copy of ${source}`, (copy) => {
      copy.pragma('journal_mode = DELETE');
      return checkSwitchboardFile(copy, source, 'The database');
    });
    fsyncPath(partial);
    renameSync(partial, output);
    fsyncPath(dirname(output));
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  return {
    database: source,
    path: output,
    bytes: statSync(output).size,
    sha256: await sha256Of(output),
    schema: schemaOf(applied),
    durationMs: Math.round(performance.now() - started),
  };
}
