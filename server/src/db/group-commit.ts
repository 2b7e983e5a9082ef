import type { Knex } from 'knex';
import { inUnit, type CommitTask } from './after-commit.js';
import type { Db } from './database.js';
import { dialectOf } from './knex-internals.js';
import { execute } from './statements.js';

/**
 * A request transaction: runs `work`, resolves once what it wrote is committed. What the work leaves
 * for after the commit (`afterCommit` on its transaction) goes to `tasks`, for the caller to run
 * then (`runCommitTasks`); a work that fails leaves nothing. Without `tasks` it must leave nothing.
 */
export type Transact = <T>(work: (trx: Knex.Transaction) => Promise<T>, tasks?: CommitTask[]) => Promise<T>;

/** Members per group at most, so other users of the connection (claims, the reaper) get their turn. */
const MAX_MEMBERS = 64;

type Group = { trx: Knex.Transaction; members: number; committed: Promise<void>; commit(): void };

/**
 * Group commit for SQLite. It runs one transaction at a time, and a COMMIT (writing the pages to the
 * WAL) costs more than the statements of a typical request. So request transactions that queue
 * behind one another share one: each runs in its own savepoint, in turn, a failure rolls back its
 * savepoint only, and the group commits when nobody is waiting (or after MAX_MEMBERS). Every
 * member answers after that commit, as it would after its own. PostgreSQL runs each request in
 * its own transaction: its transactions run side by side.
 */
export function requestTransactions(db: Db): Transact {
  let transact = transactors.get(db);
  if (!transact) transactors.set(db, (transact = groupCommits(db)));
  return transact;
}

// One per database: the groups are its single writer's queue.
const transactors = new WeakMap<Db, Transact>();

function groupCommits(db: Db): Transact {
  if (dialectOf(db) !== 'better-sqlite3') return (work, tasks = []) => db.transaction((trx) => inUnit(trx, tasks, work));
  const waiting: (() => void)[] = [];
  let running = false;
  let group: Group | undefined;

  const turn = () => (running ? new Promise<void>((resolve) => waiting.push(resolve)) : ((running = true), Promise.resolve()));

  const open = async (): Promise<Group> => {
    const trx = await db.transaction();
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const committed = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // Members that failed never wait for it; nobody may be left to observe a failed commit.
    committed.catch(() => {});
    const commit = () =>
      void trx.commit().then(resolve, (err: unknown) => {
        reject(err);
        return trx.rollback().catch(() => {});
      });
    return { trx, members: 0, committed, commit };
  };

  const commit = () => {
    group?.commit();
    group = undefined;
  };

  // Without a waiting member the commit waits for the end of this turn of the event loop: requests
  // whose bytes arrived meanwhile are parsed first and join (their whole transaction runs in
  // microtasks, so they never wait behind a member otherwise).
  const handOver = () => {
    const next = waiting.shift();
    if (next) {
      if (group && group.members >= MAX_MEMBERS) commit();
      next();
      return;
    }
    running = false;
    const current = group;
    if (current)
      setImmediate(() => {
        if (!running && group === current) commit();
      });
  };

  return async (work, tasks = []) => {
    await turn();
    let member: Group;
    let result: { value: Awaited<ReturnType<typeof work>> } | { error: unknown };
    try {
      member = group ??= await open();
      member.members++;
      await execute(member.trx, 'savepoint request');
      try {
        result = { value: await inUnit(member.trx, tasks, work) };
        await execute(member.trx, 'release savepoint request');
      } catch (error) {
        await execute(member.trx, 'rollback to savepoint request');
        await execute(member.trx, 'release savepoint request');
        result = { error };
      }
    } finally {
      handOver();
    }
    if ('error' in result) throw result.error;
    await member.committed;
    return result.value;
  };
}
