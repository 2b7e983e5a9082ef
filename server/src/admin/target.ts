import { databaseOf, type Config } from '../config/config.js';

export type AdminDatabase = Config['database'];

/** The database an admin command works on: `--database`, else DATABASE_URL, else the server's default file. */
export const adminDatabase = (option: string | undefined): AdminDatabase => databaseOf(option ?? (process.env.DATABASE_URL || undefined));

/** A PostgreSQL URL fit to print: its password replaced (pg_dump reads it from PGPASSWORD or ~/.pgpass). */
export function withoutPassword(url: string): { url: string; hadPassword: boolean } {
  const parsed = new URL(url);
  const hadPassword = parsed.password !== '';
  parsed.password = '';
  return { url: parsed.toString(), hadPassword };
}

/** A word quoted for a POSIX shell. */
export const shellQuote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

/** Where a command's PostgreSQL password must come from, when the URL had one. */
export const passwordHint = (hadPassword: boolean) => (hadPassword ? ' (the password is left out: give it with PGPASSWORD or ~/.pgpass)' : '');
