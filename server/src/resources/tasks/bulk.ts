import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import type { StoredEvent } from '../runs/events.js';
import { moveTask, patchTask, type Changer } from './changes.js';
import * as store from './store.js';

type BulkChange = components['schemas']['TaskBulkChange'];

/** The patch a change makes (its status aside): labels replaced, or added to and taken from the task's. */
function patchOf(change: BulkChange, current: store.Task): components['schemas']['TaskUpdate'] {
  const { taskId: _id, status: _status, labels, addLabels, removeLabels, ...fields } = change;
  if (labels === undefined && addLabels === undefined && removeLabels === undefined) return fields;
  const base = labels ?? current.labels;
  const next = [...new Set([...base, ...(addLabels ?? [])])].filter((l) => !(removeLabels ?? []).includes(l));
  if (next.length > 20) {
    throw new ProblemError('validation-error', `The task would have ${next.length} labels; a task has at most 20.`);
  }
  return { ...fields, labels: next };
}

/**
 * One change: its patch, then its move (none when the task is in that status already, except for
 * a run asking for `in_progress`: that is a checkout, which says whether the task is the run's).
 */
async function applyChange(db: Executor, changer: Changer, change: BulkChange): Promise<{ task: store.Task; events: StoredEvent[] }> {
  let task = await store.getTask(db, changer.auth.applicationId, change.taskId, { forUpdate: true });
  const patch = patchOf(change, task);
  let events: StoredEvent[] = [];
  if (Object.keys(patch).length) ({ task, events } = await patchTask(db, changer, task, patch));
  const checkout = changer.run !== undefined && change.status === 'in_progress';
  if (change.status !== undefined && (change.status !== task.status || checkout)) task = await moveTask(db, changer, task, change.status);
  return { task, events };
}

/**
 * Applies the changes in order, all or nothing: each in a savepoint, so one that fails leaves no
 * trace for the next ones to see, and every failure is found; any failure fails them all (422
 * `bulk-failed`, one issue per failed change with the problem code it got alone), and the
 * request's transaction commits nothing.
 */
export async function applyBulk(db: Executor, changer: Changer, changes: BulkChange[]): Promise<{ tasks: store.Task[]; events: StoredEvent[] }> {
  const tasks: store.Task[] = [];
  const events: StoredEvent[] = [];
  const failures: ValidationIssue[] = [];
  for (const [index, change] of changes.entries()) {
    try {
      const applied = await db.transaction((savepoint) => applyChange(savepoint, changer, change));
      tasks.push(applied.task);
      events.push(...applied.events);
    } catch (err) {
      if (!(err instanceof ProblemError) || err.status >= 500) throw err;
      failures.push({ pointer: `/changes/${String(index)}`, in: 'body', detail: err.detail, code: err.code });
    }
  }
  if (failures.length) {
    throw new ProblemError('bulk-failed', `${String(failures.length)} of the ${String(changes.length)} changes would fail: none was applied.`, {
      errors: failures,
    });
  }
  return { tasks, events };
}
