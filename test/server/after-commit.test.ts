import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterCommit, runCommitTasks, type CommitTask } from '../../server/src/db/after-commit.js';
import { closeDatabase, openDatabase } from '../../server/src/db/database.js';
import { requestTransactions } from '../../server/src/db/group-commit.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

// The one after-commit mechanism, on a real database: a task waits for the commit of the
// transaction it was added in, and is dropped with work that rolls back.
let testDb: TestDatabase;
let db: Knex;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase(testDb.kind === 'sqlite' ? { client: 'sqlite', filename: testDb.url } : { client: 'pg', url: testDb.url });
  await db.schema.createTable('probe', (t) => {
    t.string('id', 64).primary();
  });
});

afterAll(async () => {
  await closeDatabase(db);
  await testDb.drop();
});

const visible = async (id: string) => (await db('probe').where({ id }).first<{ id: string } | undefined>('id')) !== undefined;

describe('afterCommit', () => {
  it('runs at once outside a transaction', () => {
    const ran: string[] = [];
    afterCommit(db, () => ran.push('now'));
    expect(ran).toEqual(['now']);
  });

  it('in a transaction knex opened, runs once it has committed, when its writes are visible', async () => {
    const seen: boolean[] = [];
    let done!: Promise<void>;
    await db.transaction(async (trx) => {
      await trx('probe').insert({ id: 'knex-1' });
      done = new Promise<void>((resolve) =>
        afterCommit(trx, async () => {
          seen.push(await visible('knex-1'));
          resolve();
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen).toEqual([]);
    });
    await done;
    expect(seen).toEqual([true]);
  });

  it('in a transaction knex opened, never runs if it rolls back', async () => {
    const ran: string[] = [];
    await db
      .transaction(async (trx) => {
        afterCommit(trx, () => ran.push('rolled back'));
        throw new Error('undo');
      })
      .catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toEqual([]);
  });

  it('in a savepoint, waits for the transaction around it to commit, and is dropped with the savepoint', async () => {
    const ran: string[] = [];
    const tasks: CommitTask[] = [];
    await requestTransactions(db)(async (trx) => {
      await trx.transaction(async (savepoint) => afterCommit(savepoint, () => ran.push('released')));
      await trx
        .transaction(async (savepoint) => {
          afterCommit(savepoint, () => ran.push('rolled back'));
          throw new Error('undo the savepoint');
        })
        .catch(() => {});
      expect(ran).toEqual([]);
    }, tasks);
    expect(tasks.map((task) => task())).toEqual([1]);
    expect(ran).toEqual(['released']);

    let committed!: () => void;
    const done = new Promise<void>((resolve) => (committed = resolve));
    await db.transaction(async (trx) => {
      await trx.transaction(async (savepoint) =>
        afterCommit(savepoint, () => {
          ran.push('outer committed');
          committed();
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(ran).toEqual(['released']);
    });
    await done;
    expect(ran).toEqual(['released', 'outer committed']);
  });

  it("in request transactions, goes to the request's list, in order; a request that fails leaves none", async () => {
    const transact = requestTransactions(db);
    // Started in the same tick: on SQLite they share one transaction (group commit).
    const requests = Array.from({ length: 6 }, (_, i) => {
      const tasks: CommitTask[] = [];
      const done = transact(async (trx) => {
        await trx('probe').insert({ id: `request-${i}` });
        afterCommit(trx, () => `first of ${i}`);
        afterCommit(trx, () => `second of ${i}`);
        if (i % 3 === 1) throw new Error(`request ${i} failed`);
      }, tasks).then(
        () => 'committed',
        () => 'failed',
      );
      return { tasks, done };
    });
    const outcomes = await Promise.all(requests.map((r) => r.done));
    expect(outcomes).toEqual(['committed', 'failed', 'committed', 'committed', 'failed', 'committed']);
    expect(requests.map((r) => r.tasks.map((task) => task()))).toEqual([
      ['first of 0', 'second of 0'],
      [],
      ['first of 2', 'second of 2'],
      ['first of 3', 'second of 3'],
      [],
      ['first of 5', 'second of 5'],
    ]);
    expect(await Promise.all([0, 1, 2].map((i) => visible(`request-${i}`)))).toEqual([true, false, true]);
  });
});

describe('runCommitTasks', () => {
  it('runs each task to its end before the next; a failure is reported and the others still run', async () => {
    const log: string[] = [];
    const reported: unknown[] = [];
    await runCommitTasks(
      [
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          log.push('slow');
        },
        () => {
          throw new Error('sync failure');
        },
        () => log.push('sync'),
        () => Promise.reject(new Error('async failure')),
        async () => log.push('last'),
      ],
      (err) => reported.push((err as Error).message),
    );
    expect(log).toEqual(['slow', 'sync', 'last']);
    expect(reported).toEqual(['sync failure', 'async failure']);
  });
});
