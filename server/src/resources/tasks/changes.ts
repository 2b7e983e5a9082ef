import type { AuthContext } from '../../auth/identity.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { mergePatch } from '../../util/merge-patch.js';
import { actorOf } from '../approvals/deciders.js';
import type { StoredEvent } from '../runs/events.js';
import { recordEvent } from '../webhooks/outbox.js';
import { childDepth, startRunFor } from './auto-start.js';
import { assertRunMayWrite, assertUnblocked, checkOut } from './checkouts.js';
import { assertLinks } from './links.js';
import { taskMachine, type TaskStatus } from './state-machine.js';
import * as store from './store.js';

/** Who changes tasks: the request's credential, the run when a run token makes it, and the lease a run it starts gets. */
export type Changer = { auth: AuthContext; run: RunTokenIdentity | undefined; leaseSeconds: number };

/** Who a change is recorded under: the run, when its token makes it. */
export const actor = ({ auth, run }: Changer): store.TaskActor => (run ? { type: 'run', id: run.runId } : actorOf(auth));

/**
 * Starts a run of the agent a task was just assigned to, when the agent asks for it
 * (`autoStart.assigned`). A run that assigns goes one level deeper, as for mentions, and never
 * starts its own agent.
 */
export async function startOnAssign(db: Executor, changer: Changer, before: store.Task | null, task: store.Task): Promise<StoredEvent[]> {
  if (task.assignee?.type !== 'agent' || (before?.assignee?.type === 'agent' && before.assignee.id === task.assignee.id)) return [];
  const { run } = changer;
  const start = { task, agentId: task.assignee.id, reason: 'assigned' as const, depth: await childDepth(db, run), by: run };
  return (await startRunFor(db, start, changer.leaseSeconds))?.events ?? [];
}

/** Applies a merge patch of the task's fields (`task.updated`), and starts a run of a new assignee that asks for it. */
export async function patchTask(
  db: Executor,
  changer: Changer,
  current: store.Task,
  patch: components['schemas']['TaskUpdate'],
): Promise<{ task: store.Task; events: StoredEvent[] }> {
  await assertRunMayWrite(db, current, changer.run);
  const { title, description, priority, labels, assignee, parentId, projectId, goalId, blockedBy, dueAt, metadata } = current;
  const patched = mergePatch({ title, description, priority, labels, assignee, parentId, projectId, goalId, blockedBy, dueAt, metadata }, patch);
  // A merge patch's null removes the key: what may be empty is empty again.
  const next = {
    ...patched,
    description: patched.description ?? null,
    assignee: patched.assignee ?? null,
    parentId: patched.parentId ?? null,
    projectId: patched.projectId ?? null,
    goalId: patched.goalId ?? null,
    dueAt: patched.dueAt ?? null,
  };
  await assertLinks(db, changer.auth, current, next);
  await store.updateTask(db, current, next, next.blockedBy);
  const task = await store.getTask(db, current.applicationId, current.id);
  await recordEvent(db, task.applicationId, 'task.updated', task);
  return { task, events: await startOnAssign(db, changer, current, task) };
}

/**
 * Moves each task the closed (done, cancelled or deleted) task was the last open blocker of from
 * `blocked` to `todo`, with `task.unblocked`.
 */
export async function unblock(db: Executor, applicationId: string, freed: string[]): Promise<void> {
  for (const id of freed) {
    const task = await store.getTask(db, applicationId, id, { forUpdate: true });
    if (task.status !== 'blocked') continue;
    await store.setStatus(db, task, 'todo');
    await recordEvent(db, applicationId, 'task.unblocked', await store.getTask(db, applicationId, id));
  }
}

/**
 * Moves the task along the transition table (`task.status_changed`); a run moving it to
 * `in_progress` checks it out. Closing it frees the tasks it was the last open blocker of.
 */
export async function moveTask(db: Executor, changer: Changer, current: store.Task, to: TaskStatus): Promise<store.Task> {
  const { run } = changer;
  if (run && to === 'in_progress') return checkOut(db, current, run);
  await assertRunMayWrite(db, current, run);
  taskMachine.assertTransition(to, current.status);
  if (to === 'in_progress') await assertUnblocked(db, current);
  await store.setStatus(db, current, to);
  const task = await store.getTask(db, current.applicationId, current.id);
  await recordEvent(db, task.applicationId, 'task.status_changed', task);
  if (to === 'done' || to === 'cancelled') await unblock(db, task.applicationId, await store.freedBy(db, current.id));
  return task;
}
