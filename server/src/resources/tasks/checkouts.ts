import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import { ProblemError } from '../../problems/problems.js';
import { nowIso } from '../../util/time.js';
import { runMachine, type RunStatus } from '../runs/state-machine.js';
import { recordEvent } from '../webhooks/outbox.js';
import { assertRunHoldsLease } from '../runs/leases.js';
import { taskMachine } from './state-machine.js';
import * as store from './store.js';

/**
 * The run that holds the task, if one does: the run its checkout names, under the same fencing
 * token, running with a lease that has not expired, or waiting on a person (and queued to resume
 * from that wait). A run that lost its lease holds nothing even before the reaper has seen it.
 */
export async function holderOf(db: Executor, task: store.Task): Promise<string | null> {
  if (!task.checkout) return null;
  const rows = await selectRows<{ id: string }>(
    db,
    `select id from runs where id = ? and fencing_token = ?
       and (status in ('waiting', 'queued') or (status = 'running' and lease_expires_at > ?))`,
    [task.checkout.runId, task.checkout.fencingToken, nowIso()],
  );
  return rows.length ? task.checkout.runId : null;
}

const checkedOut = (task: store.Task, holder: string) =>
  new ProblemError('task-checked-out', `Task ${task.id} is checked out by run ${holder}, which is working on it.`, { checkoutRunId: holder });

/** A run changes a task only while no other run holds it (people and keys may: they oversee the runs). */
export async function assertRunMayWrite(db: Executor, task: store.Task, run: RunTokenIdentity | undefined): Promise<void> {
  if (!run) return;
  await assertRunHoldsLease(db, run);
  const holder = await holderOf(db, task);
  if (holder && holder !== run.runId) throw checkedOut(task, holder);
}

/** 409 task-blocked while one of the task's blockers is open. */
export async function assertUnblocked(db: Executor, task: store.Task): Promise<void> {
  const open = await store.openBlockersOf(db, task.id);
  if (open.length)
    throw new ProblemError('task-blocked', `Task ${task.id} waits on ${open.join(', ')}: it can start once they are done or cancelled.`, { blockedBy: open });
}

/**
 * The run takes the task into `in_progress` as its checkout: the task is locked by the caller
 * (`current` read for update), so of runs checking it out at once the first wins and the others
 * find it held. The run's own checkout is kept as it is; an `in_progress` task nobody holds is
 * taken over. Records `task.checked_out` (and `task.status_changed` when the status moved).
 */
export async function checkOut(db: Executor, current: store.Task, run: RunTokenIdentity): Promise<store.Task> {
  await assertRunHoldsLease(db, run);
  const holder = await holderOf(db, current);
  if (holder === run.runId) return current;
  if (holder) throw checkedOut(current, holder);
  if (current.status !== 'in_progress') taskMachine.assertTransition('in_progress', current.status);
  await assertUnblocked(db, current);
  await store.setStatus(db, current, 'in_progress', { runId: run.runId, fencingToken: run.fencingToken });
  const task = await store.getTask(db, current.applicationId, current.id);
  if (current.status !== 'in_progress') await recordEvent(db, task.applicationId, 'task.status_changed', task);
  await recordEvent(db, task.applicationId, 'task.checked_out', task);
  return task;
}

/** An `in_progress` task back to `todo` without a checkout, with `task.released`. */
export async function release(db: Executor, current: store.Task): Promise<store.Task> {
  if (current.status !== 'in_progress') throw taskMachine.refuse('todo', current.status);
  await store.setStatus(db, current, 'todo');
  const task = await store.getTask(db, current.applicationId, current.id);
  await recordEvent(db, task.applicationId, 'task.released', task);
  return task;
}

type RunMove = { id: string; application_id: string; status: RunStatus; fencing_token: number | string; resume: string | null };

/**
 * Keeps the checkouts in step with their run as it changes status (runs/store.ts transitionRun):
 * a run that ends, or loses its lease and is queued again, releases the tasks it held; a run that
 * resumes after waiting on a person keeps them under the new lease's fencing token.
 */
export async function followRun(db: Executor, before: { status: RunStatus }, after: RunMove): Promise<void> {
  const lost = after.status === 'queued' && before.status !== 'waiting';
  if (runMachine.isTerminal(after.status) || lost) {
    const ids = await selectRows<{ id: string }>(db, 'select id from tasks where checkout_run_id = ? order by id', [after.id]);
    for (const { id } of ids) {
      const task = await store.getTask(db, after.application_id, id, { forUpdate: true });
      if (task.status === 'in_progress') await release(db, task);
    }
  } else if (after.status === 'running' && before.status === 'queued' && after.resume !== null) {
    // Only a run that waited (its claim carries `resume`) comes back to checkouts: other claims write nothing.
    await db('tasks').where({ checkout_run_id: after.id }).update({ checkout_fencing: after.fencing_token });
  }
}
