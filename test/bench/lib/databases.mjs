// Fresh databases for the servers under test: a SQLite file in a temp dir, or (when DATABASE_URL
// names a PostgreSQL server) a new database on it, dropped afterwards. Mirrors test/support/databases.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const postgresBaseUrl = () => {
  const base = process.env.DATABASE_URL;
  return base && /^postgres(ql)?:\/\//.test(base) ? base : undefined;
};

/** A new SQLite database file (the server creates it); `drop` removes its directory. */
export function sqliteDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  return { kind: 'sqlite', url: join(dir, 'bench.db'), masterKey: undefined, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** A new database `switchboard_bench_<random>` on the PostgreSQL server of DATABASE_URL. */
export async function postgresDatabase(base = postgresBaseUrl()) {
  if (!base) throw new Error('DATABASE_URL does not name a PostgreSQL server');
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    url: url.toString(),
    // PostgreSQL needs a master key in the environment (SQLite keeps one next to its file).
    masterKey: randomBytes(32).toString('base64'),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
