import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../server/src/db/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { onPostgres } from '../support/server-process.js';

/**
 * On PostgreSQL the server's connections prepare their parameterised statements once; `select *`
 * and `returning *` are left unprepared, so a column added by another replica's migration (a
 * rolling upgrade) cannot break a cached plan.
 */
const suite = onPostgres ? describe : describe.skip;
const title = onPostgres ? 'prepared statements on PostgreSQL' : 'prepared statements on PostgreSQL (skipped: DATABASE_URL is not postgres://)';

suite(title, () => {
  let testDb: TestDatabase;
  let db: Knex;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ client: 'pg', url: testDb.url });
    await db.schema.createTable('probe', (t) => {
      t.string('id', 64).primary();
      t.integer('n');
    });
    await db('probe').insert([
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
    ]);
  });

  afterAll(async () => {
    await closeDatabase(db);
    await testDb.drop();
  });

  /** The statements prepared on the connection a transaction holds, run with it. */
  const preparedIn = async (work: (trx: Knex.Transaction) => Promise<unknown>) =>
    db.transaction(async (trx) => {
      await work(trx);
      return (await trx.raw<{ rows: { statement: string }[] }>('select statement from pg_prepared_statements')).rows.map((r) => r.statement);
    });

  it('prepares a statement that names its columns, once per connection, and answers as before', async () => {
    const statements = await preparedIn(async (trx) => {
      for (let i = 0; i < 3; i++) expect(await trx('probe').where({ id: 'b' }).select('id', 'n')).toEqual([{ id: 'b', n: 2 }]);
    });
    expect(statements.filter((s) => s.includes('from "probe" where "id" = $1'))).toHaveLength(1);
  });

  it('leaves select * and returning * unprepared, and statements without parameters too', async () => {
    const statements = await preparedIn(async (trx) => {
      expect(await trx('probe').where({ id: 'a' }).first()).toEqual({ id: 'a', n: 1 });
      await trx('probe').where({ id: 'a' }).update({ n: 1 }).returning('*');
      await trx.raw('select count(*) from probe');
    });
    expect(statements.filter((s) => s.includes('*'))).toEqual([]);
  });

  it('a column added under prepared statements (a rolling upgrade) breaks neither kind', async () => {
    await db.transaction(async (trx) => {
      await trx('probe').where({ id: 'a' }).select('id', 'n');
      await trx('probe').where({ id: 'a' }).first();
    });
    await db.schema.alterTable('probe', (t) => t.string('extra').nullable());
    for (let i = 0; i < 12; i++) {
      expect(await db('probe').where({ id: 'a' }).select('id', 'n')).toEqual([{ id: 'a', n: 1 }]);
      expect(await db('probe').where({ id: 'a' }).first()).toEqual({ id: 'a', n: 1, extra: null });
    }
  });
});
