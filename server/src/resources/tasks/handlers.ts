import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { actorOf } from '../approvals/deciders.js';
import { defineHandlers } from '../handler-types.js';
import { recordEvent } from '../webhooks/outbox.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { AuthContext } from '../../auth/identity.js';
import { assertRunHoldsLease, assertRunMayWrite, assertUnblocked, checkOut, release } from './checkouts.js';
import { assertLinks } from './links.js';
import { depthOf, MAX_MENTION_DEPTH, startRunFor } from './auto-start.js';
import * as comments from './comments.js';
import type { RunEventBus } from '../runs/events.js';
import type { StoredEvent } from '../runs/events.js';
import { taskMachine } from './state-machine.js';
import * as store from './store.js';

/**
 * Moves each task the closed (done, cancelled or deleted) task was the last open blocker of from
 * `blocked` to `todo`, with `task.unblocked`.
 */
async function unblock(db: Executor, applicationId: string, freed: string[]): Promise<void> {
  for (const id of freed) {
    const task = await store.getTask(db, applicationId, id, { forUpdate: true });
    if (task.status !== 'blocked') continue;
    await store.setStatus(db, task, 'todo');
    await recordEvent(db, applicationId, 'task.unblocked', await store.getTask(db, applicationId, id));
  }
}

/** Who a change is recorded under: the run, when its token makes it. */
const actor = (auth: AuthContext, run: RunTokenIdentity | undefined): store.TaskActor => (run ? { type: 'run', id: run.runId } : actorOf(auth));

/**
 * Starts a run of the agent a task was just assigned to, when the agent asks for it (`autoStart.assigned`).
 * A run that assigns goes one level deeper, as for mentions.
 */
async function startOnAssign(
  db: Executor,
  before: store.Task | null,
  task: store.Task,
  run: RunTokenIdentity | undefined,
  leaseSeconds: number,
): Promise<StoredEvent[]> {
  if (task.assignee?.type !== 'agent' || (before?.assignee?.type === 'agent' && before.assignee.id === task.assignee.id)) return [];
  if (run && run.agentId === task.assignee.id) return [];
  const depth = run ? (await depthOf(db, run)) + 1 : 0;
  if (depth > MAX_MENTION_DEPTH) return [];
  return (await startRunFor(db, { task, agentId: task.assignee.id, reason: 'assigned', depth }, leaseSeconds))?.events ?? [];
}

export const taskHandlers = (bus: RunEventBus, leaseSeconds: number) =>
  defineHandlers({
    listTasks: async ({ db, auth, query }) => ({ status: 200, body: await store.listTasks(db, auth.applicationId, query) }),

    createTask: async ({ db, auth, run, body, afterCommit }) => {
      if (run) await assertRunHoldsLease(db, run);
      const fields = {
        title: body.title,
        description: body.description ?? null,
        status: body.status ?? 'backlog',
        priority: body.priority ?? 'medium',
        labels: body.labels ?? [],
        assignee: body.assignee ?? null,
        parentId: body.parentId ?? null,
        blockedBy: body.blockedBy ?? [],
        dueAt: body.dueAt ?? null,
        metadata: body.metadata ?? {},
      };
      await assertLinks(db, auth, null, fields);
      const id = await store.insertTask(db, auth.applicationId, fields, actor(auth, run));
      const task = await store.getTask(db, auth.applicationId, id);
      await recordEvent(db, auth.applicationId, 'task.created', task);
      const events = await startOnAssign(db, null, task, run, leaseSeconds);
      afterCommit(() => bus.publish(events));
      return { status: 201, body: task, headers: { Location: `/api/v1/tasks/${task.id}` } };
    },

    getTask: async ({ db, auth, path }) => ({ status: 200, body: await store.getTask(db, auth.applicationId, path.taskId) }),

    updateTask: async ({ db, auth, run, path, body, checkIfMatch, afterCommit }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      await assertRunMayWrite(db, current, run);
      const { title, description, priority, labels, assignee, parentId, blockedBy, dueAt, metadata } = current;
      const patched = mergePatch({ title, description, priority, labels, assignee, parentId, blockedBy, dueAt, metadata }, body);
      // A merge patch's null removes the key: what may be empty is empty again.
      const next = {
        ...patched,
        description: patched.description ?? null,
        assignee: patched.assignee ?? null,
        parentId: patched.parentId ?? null,
        dueAt: patched.dueAt ?? null,
      };
      await assertLinks(db, auth, current, next);
      await store.updateTask(db, current, next, next.blockedBy);
      const task = await store.getTask(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'task.updated', task);
      const events = await startOnAssign(db, current, task, run, leaseSeconds);
      afterCommit(() => bus.publish(events));
      return { status: 200, body: task };
    },

    transitionTask: async ({ db, auth, run, path, body, checkIfMatch }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      if (run && body.to === 'in_progress') return { status: 200, body: await checkOut(db, current, run) };
      await assertRunMayWrite(db, current, run);
      taskMachine.assertTransition(body.to, current.status);
      if (body.to === 'in_progress') await assertUnblocked(db, current);
      await store.setStatus(db, current, body.to);
      const task = await store.getTask(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'task.status_changed', task);
      if (body.to === 'done' || body.to === 'cancelled') await unblock(db, auth.applicationId, await store.freedBy(db, current.id));
      return { status: 200, body: task };
    },

    checkoutTask: async ({ db, auth, run, path, checkIfMatch }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      if (!run) throw new ProblemError('forbidden', 'Only a run checks a task out, with its run token.');
      return { status: 200, body: await checkOut(db, current, run) };
    },

    releaseTask: async ({ db, auth, run, path, checkIfMatch }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      await assertRunMayWrite(db, current, run);
      return { status: 200, body: await release(db, current) };
    },

    deleteTask: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      const freed = current.status === 'done' || current.status === 'cancelled' ? [] : await store.freedBy(db, current.id);
      await store.deleteTask(db, current.id);
      await recordEvent(db, auth.applicationId, 'task.deleted', current);
      await unblock(db, auth.applicationId, freed);
      return { status: 204, body: undefined };
    },

    listTaskComments: async ({ db, auth, path, query }) => {
      const task = await store.getTask(db, auth.applicationId, path.taskId);
      return { status: 200, body: await comments.listComments(db, task.id, query) };
    },

    createTaskComment: async ({ db, auth, run, path, body, afterCommit }) => {
      const task = await store.getTask(db, auth.applicationId, path.taskId, { forShare: true });
      if (run) await assertRunHoldsLease(db, run);
      const mentions = await comments.agentsAmong(db, auth.applicationId, comments.mentionedIds(body.body));
      const author = actor(auth, run);
      const depth = run ? (await depthOf(db, run)) + 1 : 0;
      const started: { runId: string; events: StoredEvent[] }[] = [];
      // The comment is written first so the runs it starts carry it whole; their ids are added after.
      const comment = await comments.insertComment(db, task.id, { body: body.body, author, mentions, startedRunIds: [] });
      for (const agentId of mentions) {
        if (depth > MAX_MENTION_DEPTH || run?.agentId === agentId) continue;
        const start = await startRunFor(db, { task, agentId, reason: 'mentioned', comment, depth }, leaseSeconds);
        if (start) started.push(start);
      }
      const saved = started.length
        ? await comments.setStartedRuns(
            db,
            comment,
            started.map((s) => s.runId),
          )
        : comment;
      await recordEvent(db, auth.applicationId, 'task.commented', saved);
      afterCommit(() => bus.publish(started.flatMap((s) => s.events)));
      return { status: 201, body: saved };
    },
  });
