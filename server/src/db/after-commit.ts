import type { Knex } from 'knex';
import type { Executor } from './database.js';
import { isTransaction, outerTransaction, transactionEnded } from './knex-internals.js';

/** What others may learn of a change only once it is committed: its events on the bus, a worker woken for it. */
export type CommitTask = () => unknown;

/** The tasks of the unit of work running in a transaction now (a group commit's members take turns in one). */
const units = new WeakMap<Knex.Transaction, CommitTask[]>();

/**
 * The one after-commit mechanism: `task` runs once the transaction `db` is in has committed, and
 * never if the work it belongs to rolls back; outside a transaction, at once.
 *
 * In a request's transaction (see `inUnit`) the task joins the request's list, which the request
 * runs after its commit, before it answers. A savepoint hands it on to the transaction around it
 * when released. In a transaction knex opened around a callback (the background jobs) it runs once
 * knex has committed it. Nobody waits for it there, nor outside a transaction: such a task must
 * not fail.
 */
export function afterCommit(db: Executor, task: CommitTask): void {
  if (!isTransaction(db)) {
    task();
    return;
  }
  const tasks = units.get(db);
  if (tasks) {
    tasks.push(task);
    return;
  }
  const outer = outerTransaction(db);
  void transactionEnded(db).then(outer ? () => afterCommit(outer, task) : task, () => {});
}

/**
 * Runs `work` in `trx` as a unit of its own: the tasks added on `trx` meanwhile go to `tasks`, for
 * whoever commits the unit to run (`runCommitTasks`) after the commit. If the work fails (its
 * writes roll back) they are dropped.
 */
export async function inUnit<T>(trx: Knex.Transaction, tasks: CommitTask[], work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  units.set(trx, tasks);
  try {
    return await work(trx);
  } catch (err) {
    tasks.length = 0;
    throw err;
  } finally {
    units.delete(trx);
  }
}

/**
 * Runs committed work's tasks in order, each awaited. The change is committed: a task that fails is
 * reported, and the others still run.
 */
export async function runCommitTasks(tasks: CommitTask[], report: (err: unknown) => void): Promise<void> {
  for (const task of tasks) {
    try {
      await task();
    } catch (err) {
      report(err);
    }
  }
}
