import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../server/src/db/database.js';
import { requestTransactions } from '../../server/src/db/group-commit.js';
import { selectRows } from '../../server/src/db/statements.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

// Request transactions on a real database: on SQLite they share commits (group commit), on
// PostgreSQL each has its own; either way a member's failure undoes only its own writes, and a
// member answers only once what it wrote is committed.
let testDb: TestDatabase;
let db: Awaited<ReturnType<typeof openDatabase>>;
let commits = 0;
const sqlite = () => testDb.kind === 'sqlite';

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase(testDb.kind === 'sqlite' ? { client: 'sqlite', filename: testDb.url } : { client: 'pg', url: testDb.url });
  await db.schema.createTable('probe', (t) => {
    t.string('id', 64).primary();
  });
  db.on('query', (q: { sql: string }) => {
    if (/^commit/i.test(q.sql)) commits++;
  });
});

afterAll(async () => {
  await closeDatabase(db);
  await testDb.drop();
});

const committedIds = async (prefix: string) =>
  (await selectRows<{ id: string }>(db, 'select id from probe where id like ? order by id', [`${prefix}%`])).map((r) => r.id);

/** `count` request transactions started in the same tick; those in `failing` insert their row, then throw. */
function members(prefix: string, count: number, failing: Set<number>) {
  const transact = requestTransactions(db);
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}${String(i).padStart(3, '0')}`;
    return transact(async (trx) => {
      await trx('probe').insert({ id });
      // A nested savepoint (as the trigger handler uses) inside a member.
      await trx.transaction((sp) => sp('probe').insert({ id: `${id}-nested` }));
      if (failing.has(i)) throw new Error(`member ${i} failed`);
      return id;
    }).then(async (value) => {
      // Answered only after the commit: a read outside the transaction already sees the row.
      const visible = (await selectRows(db, 'select id from probe where id = ?', [id])).length === 1;
      return { value, visible };
    });
  });
}

describe('request transactions', () => {
  it('commit the members that succeeded and undo only the writes of those that failed', async () => {
    commits = 0;
    const results = await Promise.allSettled(members('a', 20, new Set([5, 13])));
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, message: (r.reason as Error).message }] : []));
    expect(failed).toEqual([
      { i: 5, message: 'member 5 failed' },
      { i: 13, message: 'member 13 failed' },
    ]);
    expect(ok).toHaveLength(18);
    expect(ok.every((r) => r.visible)).toBe(true);
    const expected = ok.flatMap((r) => [r.value, `${r.value}-nested`]).sort();
    expect(await committedIds('a')).toEqual(expected);
    // 20 transactions that queued together: one commit on SQLite; on PostgreSQL one per member that succeeded.
    expect(commits).toBe(sqlite() ? 1 : 18);
  });

  it('commit a long queue in groups of at most 64', async () => {
    commits = 0;
    const results = await Promise.all(members('b', 150, new Set()));
    expect(results.every((r) => r.visible)).toBe(true);
    expect(await committedIds('b')).toHaveLength(300);
    expect(commits).toBe(sqlite() ? 3 : 150);
  });

  it('run a transaction alone when nothing else is waiting', async () => {
    commits = 0;
    const [alone] = members('c', 1, new Set());
    expect(await alone).toEqual({ value: 'c000', visible: true });
    expect(commits).toBe(1);
    const [failing] = members('d', 1, new Set([0]));
    await expect(failing).rejects.toThrow('member 0 failed');
    expect(await committedIds('c')).toEqual(['c000', 'c000-nested']);
    expect(await committedIds('d')).toEqual([]);
  });
});
