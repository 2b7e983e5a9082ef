import { AdminError } from './errors.js';
import { passwordHint, shellQuote, withoutPassword } from './target.js';

/**
 * PostgreSQL has its own tools for this, consistent while the server writes and restorable into
 * another version: Switchboard does not reimplement pg_dump. The refusal gives the exact command.
 */
export function refuseBackupOnPostgres(url: string, output: string | undefined, stamp: string): never {
  const shown = withoutPassword(url);
  const file = output ?? `switchboard-${stamp}.dump`;
  throw new AdminError(
    `switchboard admin backup copies SQLite databases; on PostgreSQL use pg_dump${passwordHint(shown.hadPassword)}:\n` +
      `  pg_dump --format=custom --file=${shellQuote(file)} --dbname=${shellQuote(shown.url)}\n` +
      'See deploy/backups.md for restoring with pg_restore and point-in-time recovery.',
  );
}

export function refuseRestoreOnPostgres(url: string, backup: string): never {
  const shown = withoutPassword(url);
  throw new AdminError(
    `switchboard admin restore replaces SQLite databases; on PostgreSQL stop the servers and use pg_restore${passwordHint(shown.hadPassword)}:\n` +
      `  pg_restore --clean --if-exists --no-owner --single-transaction --dbname=${shellQuote(shown.url)} ${shellQuote(backup)}\n` +
      'See deploy/backups.md.',
  );
}
