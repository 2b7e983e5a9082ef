import { resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { AdminError } from './errors.js';
import { assertCurrent } from './schema.js';
import { assertSqliteFile } from './sqlite-file.js';
import { withoutPassword, type AdminDatabase } from './target.js';

/**
 * Opens an existing Switchboard database beside a running server, without migrating it (its server
 * does that): refuses a missing file, an unreachable server, or a schema other than this build's.
 */
export async function openExistingDatabase(target: AdminDatabase): Promise<{ db: Knex; shown: string }> {
  let db: Knex;
  let shown: string;
  if (target.client === 'sqlite') {
    shown = resolve(target.filename);
    assertSqliteFile(shown, 'The database');
    db = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: shown },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
          // The server writes too: wait for its transactions rather than fail.
          conn.pragma('busy_timeout = 5000');
          conn.pragma('foreign_keys = ON');
          done(null, conn);
        },
      },
    });
  } else {
    shown = withoutPassword(target.url).url;
    db = knexFactory({ client: 'pg', connection: target.url, pool: { min: 0, max: 2 } });
  }
  try {
    const hasTable = await db.schema.hasTable('knex_migrations');
    if (!hasTable) throw new AdminError(`${shown} is not a Switchboard database (no migrations table): start the server on it once first.`);
    const applied = (await db('knex_migrations').orderBy('id').select<{ name: string }[]>('name')).map((r) => r.name);
    await assertCurrent(`The database ${shown}`, applied);
  } catch (err) {
    await db.destroy();
    if (err instanceof AdminError) throw err;
    throw new AdminError(`Cannot use the database ${shown}: ${(err as Error).message}`);
  }
  return { db, shown };
}
