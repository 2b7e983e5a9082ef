import { idsInApplication } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import { defineHandlers } from '../handler-types.js';
import { recordEvent } from '../webhooks/outbox.js';
import { assertRunMayWrite, checkOut, release } from './checkouts.js';
import { assertRunHoldsLease } from '../runs/leases.js';
import { assertLinks } from './links.js';
import { childDepth, startRunFor } from './auto-start.js';
import { actor, moveTask, patchTask, startOnAssign, unblock } from './changes.js';
import { applyBulk } from './bulk.js';
import * as comments from './comments.js';
import type { RunEventBus, StoredEvent } from '../runs/events.js';
import * as store from './store.js';

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
        projectId: body.projectId ?? null,
        goalId: body.goalId ?? null,
        blockedBy: body.blockedBy ?? [],
        dueAt: body.dueAt ?? null,
        metadata: body.metadata ?? {},
      };
      await assertLinks(db, auth, null, fields);
      const changer = { auth, run, leaseSeconds };
      const id = await store.insertTask(db, auth.applicationId, fields, actor(changer));
      const task = await store.getTask(db, auth.applicationId, id);
      await recordEvent(db, auth.applicationId, 'task.created', task);
      const events = await startOnAssign(db, changer, null, task);
      afterCommit(() => bus.publish(events));
      return { status: 201, body: task, headers: { Location: `/api/v1/tasks/${task.id}` } };
    },

    getTask: async ({ db, auth, path }) => ({ status: 200, body: await store.getTask(db, auth.applicationId, path.taskId) }),

    updateTask: async ({ db, auth, run, path, body, checkIfMatch, afterCommit }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      const { task, events } = await patchTask(db, { auth, run, leaseSeconds }, current, body);
      afterCommit(() => bus.publish(events));
      return { status: 200, body: task };
    },

    transitionTask: async ({ db, auth, run, path, body, checkIfMatch }) => {
      const current = await store.getTask(db, auth.applicationId, path.taskId, { forUpdate: true });
      checkIfMatch(current);
      return { status: 200, body: await moveTask(db, { auth, run, leaseSeconds }, current, body.to) };
    },

    bulkUpdateTasks: async ({ db, auth, run, body, afterCommit }) => {
      const { tasks, events } = await applyBulk(db, { auth, run, leaseSeconds }, body.changes);
      afterCommit(() => bus.publish(events));
      return { status: 200, body: { data: tasks } };
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
      const mentioned = comments.mentionedIds(body.body);
      const agents = await idsInApplication(db, 'agents', auth.applicationId, mentioned);
      const mentions = mentioned.filter((id) => agents.has(id));
      const author = actor({ auth, run, leaseSeconds });
      const depth = await childDepth(db, run);
      const started: { runId: string; events: StoredEvent[] }[] = [];
      // The comment is written first so the runs it starts carry it whole; their ids are added after.
      const comment = await comments.insertComment(db, task.id, { body: body.body, author, mentions, startedRunIds: [] });
      for (const agentId of mentions) {
        const start = await startRunFor(db, { task, agentId, reason: 'mentioned', comment, depth, by: run }, leaseSeconds);
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
