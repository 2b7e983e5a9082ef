import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../server/src/db/database.js';
import {
  clientOf,
  dialectOf,
  heldConnection,
  isTransaction,
  outerTransaction,
  sqliteValue,
  transactionEnded,
  type SqliteConnection,
} from '../../server/src/db/knex-internals.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

// What db/knex-internals.ts relies on in knex beyond its documented API, checked on a real knex
// opened as the server opens it (SQLite, or PostgreSQL when DATABASE_URL is set). A knex upgrade
// that changes one of these fails here, before the fast path built on it misbehaves.
let testDb: TestDatabase;
let db: Knex;
const sqlite = () => testDb.kind === 'sqlite';

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase(testDb.kind === 'sqlite' ? { client: 'sqlite', filename: testDb.url } : { client: 'pg', url: testDb.url });
  await db.schema.createTable('probe', (t) => {
    t.string('id', 64).primary();
    t.bigInteger('at');
    t.integer('flag');
  });
});

afterAll(async () => {
  await closeDatabase(db);
  await testDb.drop();
});

const ids = async () => ((await db('probe').select('id').orderBy('id')) as { id: string }[]).map((r) => r.id);

/** A transaction held open until `release` settles, so its state can be looked at from inside. */
async function openTransaction(): Promise<{ trx: Knex.Transaction; done: Promise<unknown>; finish: (error?: Error) => Promise<unknown> }> {
  let finish!: (error?: Error) => void;
  const released = new Promise<Error | undefined>((resolve) => (finish = resolve));
  let trx!: Knex.Transaction;
  const started = new Promise<void>((resolve) => {
    void db
      .transaction(async (t) => {
        trx = t;
        resolve();
        const error = await released;
        if (error) throw error;
      })
      .catch(() => {});
  });
  await started;
  const done = transactionEnded(trx).then(
    () => 'committed',
    (err: unknown) => `rolled back: ${(err as Error).message}`,
  );
  return { trx, done, finish: (error) => (finish(error), done) };
}

describe('knex internals', () => {
  it('dialectOf names the client option the database was opened with, on the knex and on its transactions', async () => {
    const dialect = sqlite() ? 'better-sqlite3' : 'pg';
    expect(dialectOf(db)).toBe(dialect);
    await db.transaction(async (trx) => {
      expect(dialectOf(trx)).toBe(dialect);
    });
  });

  it('isTransaction tells transactions and savepoints from the knex', async () => {
    expect(isTransaction(db)).toBe(false);
    await db.transaction(async (trx) => {
      expect(isTransaction(trx)).toBe(true);
      await trx.transaction(async (savepoint) => {
        expect(isTransaction(savepoint)).toBe(true);
      });
    });
  });

  it("clientOf: a transaction and a savepoint have clients of their own; a query has its knex's or transaction's", async () => {
    expect(clientOf(db('probe'))).toBe(clientOf(db));
    await db.transaction(async (trx) => {
      expect(clientOf(trx)).not.toBe(clientOf(db));
      expect(clientOf(trx('probe'))).toBe(clientOf(trx));
      await trx.transaction(async (savepoint) => {
        expect(clientOf(savepoint)).not.toBe(clientOf(trx));
      });
    });
  });

  it('outerTransaction is the transaction a savepoint was opened in', async () => {
    await db.transaction(async (trx) => {
      expect(outerTransaction(trx)).toBeUndefined();
      await trx.transaction(async (savepoint) => {
        expect(outerTransaction(savepoint)).toBe(trx);
        await savepoint.transaction(async (inner) => {
          expect(outerTransaction(inner)).toBe(savepoint);
        });
      });
    });
  });

  it('heldConnection is the connection the transaction runs its queries on', async () => {
    await db
      .transaction(async (trx) => {
        const connection = await heldConnection(trx);
        expect(await heldConnection(trx)).toBe(connection);
        if (sqlite()) {
          (connection as SqliteConnection).prepare("insert into probe (id) values ('held-1')").run([]);
          // Seen by the transaction's own queries (the same connection), not yet committed.
          expect(await trx('probe').where({ id: 'held-1' }).first('id')).toEqual({ id: 'held-1' });
        } else {
          const txid = async (q: Promise<{ rows: { id: string }[] }>) => (await q).rows[0]!.id;
          const pgConnection = connection as { query(sql: string): Promise<{ rows: { id: string }[] }> };
          expect(await txid(pgConnection.query('select txid_current()::text as id'))).toBe(await txid(trx.raw('select txid_current()::text as id')));
        }
        throw new Error('undo');
      })
      .catch((err: unknown) => expect((err as Error).message).toBe('undo'));
    // Rolled back with the transaction: the statement ran inside it.
    expect(await ids()).not.toContain('held-1');
  });

  it('transactionEnded resolves once COMMIT has run', async () => {
    const { trx, done, finish } = await openTransaction();
    await trx('probe').insert({ id: 'ended-1' });
    let settled = false;
    void done.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    expect(await finish()).toBe('committed');
    // The commit is visible to everyone by then.
    expect(await ids()).toContain('ended-1');
  });

  it('transactionEnded rejects with the error the callback failed with, after ROLLBACK', async () => {
    const { trx, finish } = await openTransaction();
    await trx('probe').insert({ id: 'ended-2' });
    expect(await finish(new Error('boom'))).toBe('rolled back: boom');
    expect(await ids()).not.toContain('ended-2');
  });

  it('transactionEnded of a savepoint resolves at its RELEASE, and rejects when it rolls back', async () => {
    await db.transaction(async (trx) => {
      let released!: Promise<unknown>;
      await trx.transaction(async (savepoint) => {
        released = transactionEnded(savepoint);
      });
      await expect(released).resolves.toBeUndefined();
      let undone!: Promise<unknown>;
      await trx
        .transaction(async (savepoint) => {
          undone = transactionEnded(savepoint);
          throw new Error('savepoint failed');
        })
        .catch(() => {});
      await expect(undone).rejects.toThrow('savepoint failed');
    });
  });

  describe.skipIf(/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? ''))('on SQLite', () => {
    it("every knex query is prepared through the connection's own prepare (which the server replaces with a cache)", async () => {
      await db.transaction(async (trx) => {
        const connection = (await heldConnection(trx)) as SqliteConnection;
        const original = connection.prepare;
        const prepared: string[] = [];
        connection.prepare = (sql) => (prepared.push(sql), original(sql));
        try {
          await trx('probe').where({ id: 'none' }).first('id');
          await trx('probe').insert({ id: 'prepared-1' });
        } finally {
          connection.prepare = original;
        }
        expect(prepared).toEqual(['select `id` from `probe` where `id` = ? limit ?', 'insert into `probe` (`id`) values (?)']);
      });
      // The server's cache: the same SQL gives the same kept statement.
      await db.transaction(async (trx) => {
        const connection = (await heldConnection(trx)) as SqliteConnection;
        expect(connection.prepare('select 1')).toBe(connection.prepare('select 1'));
      });
    });

    it('sqliteValue binds as knex does: Dates as epoch milliseconds, booleans as 0 and 1', async () => {
      const at = new Date('2026-01-02T03:04:05.678Z');
      await db.transaction(async (trx) => {
        await trx('probe').insert({ id: 'bound-knex', at, flag: true });
        const connection = (await heldConnection(trx)) as SqliteConnection;
        connection.prepare('insert into probe (id, at, flag) values (?, ?, ?)').run(['bound-direct', at, true].map(sqliteValue));
      });
      const rows = (await db('probe').whereIn('id', ['bound-knex', 'bound-direct']).orderBy('id').select('at', 'flag')) as unknown[];
      expect(rows).toEqual([
        { at: at.valueOf(), flag: 1 },
        { at: at.valueOf(), flag: 1 },
      ]);
      expect([false, null, 'x', 2].map(sqliteValue)).toEqual([0, null, 'x', 2]);
    });
  });
});
