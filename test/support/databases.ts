import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type TestDatabase = { url: string; kind: 'sqlite' | 'postgres'; drop(): Promise<void> };

/** The master key for servers on this database: the same for every process that shares it. */
export const masterKeyFor = (db: TestDatabase) => createHash('sha256').update(`switchboard test master key ${db.url}`).digest('base64');

/** PostgreSQL when DATABASE_URL is set (a fresh database per call), otherwise a fresh SQLite file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (base && /^postgres(ql)?:\/\//.test(base)) {
    const name = `sb_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(base);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      kind: 'postgres',
      async drop() {
        const c = new pg.Client({ connectionString: base });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  return { url: join(dir, 'switchboard.db'), kind: 'sqlite', drop: async () => rmSync(dir, { recursive: true, force: true }) };
}
