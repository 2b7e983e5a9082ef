import { callerOf, rowsSeenBy } from '../../auth/identity.js';
import { admitNewRun } from '../budgets/admission.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { getAgent } from '../agents/store.js';
import { defineHandlers } from '../handler-types.js';
import type { RunEventBus } from '../runs/events.js';
import { queueRun } from '../runs/lifecycle.js';
import { toRun } from '../runs/store.js';
import { assertThreadIdle, makeRoom } from './runs.js';
import * as store from './store.js';
import { recordEvent } from '../webhooks/outbox.js';

/** An agent a thread names must be one of the application's (404 otherwise, like any other tenant's resource). */
async function assertAgent(db: Executor, applicationId: string, agentId: string | null | undefined): Promise<void> {
  if (agentId) await getAgent(db, applicationId, agentId);
}

const created = async (db: Executor, thread: store.Thread) => {
  await recordEvent(db, thread.applicationId, 'thread.created', thread);
  return { status: 201 as const, body: thread, headers: { Location: `/api/v1/threads/${thread.id}` } };
};

export const threadHandlers = (bus: RunEventBus, leaseSeconds: number) =>
  defineHandlers({
    listThreads: async ({ db, auth, query }) => ({ status: 200, body: await store.listThreads(db, rowsSeenBy(auth), query) }),

    createThread: async ({ db, auth, body }) => {
      await assertAgent(db, auth.applicationId, body.agentId);
      const id = await store.insertThread(
        db,
        { applicationId: auth.applicationId, endUserId: auth.endUserId ?? null },
        {
          agentId: body.agentId ?? null,
          title: body.title ?? null,
          metadata: body.metadata ?? {},
          state: body.state ?? {},
          ttlSeconds: body.ttlSeconds ?? null,
        },
      );
      await store.appendMessages(db, id, body.messages ?? []);
      return created(db, await store.getThread(db, rowsSeenBy(auth), id));
    },

    getThread: async ({ db, auth, path }) => ({ status: 200, body: await store.getThread(db, rowsSeenBy(auth), path.threadId) }),

    updateThread: async ({ db, auth, path, body, checkIfMatch }) => {
      const seen = rowsSeenBy(auth);
      const current = await store.getThread(db, seen, path.threadId, { forUpdate: true });
      checkIfMatch(current);
      await assertAgent(db, auth.applicationId, body.agentId);
      // `state` is replaced as a whole, not merged: a patch of the state is the client's to make.
      const { state, ...rest } = body;
      const next = mergePatch({ agentId: current.agentId, title: current.title, metadata: current.metadata, ttlSeconds: current.ttlSeconds }, rest);
      await store.updateThread(
        db,
        current.id,
        {
          agentId: next.agentId ?? null,
          title: next.title ?? null,
          metadata: next.metadata,
          state: state ?? current.state,
          ttlSeconds: next.ttlSeconds ?? null,
        },
        state !== undefined,
      );
      const updated = await store.getThread(db, seen, current.id);
      await recordEvent(db, updated.applicationId, 'thread.updated', updated);
      return { status: 200, body: updated };
    },

    deleteThread: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getThread(db, rowsSeenBy(auth), path.threadId, { forUpdate: true });
      checkIfMatch(current);
      await assertThreadIdle(db, current.id);
      await store.deleteThread(db, current.id);
      await recordEvent(db, current.applicationId, 'thread.deleted', current);
      return { status: 204, body: undefined };
    },

    listThreadMessages: async ({ db, auth, path, query }) => {
      const thread = await store.getThread(db, rowsSeenBy(auth), path.threadId);
      return { status: 200, body: await store.messagesAfter(db, thread.id, query.after ?? 0, query.limit ?? 100) };
    },

    appendThreadMessages: async ({ db, auth, path, body }) => {
      const thread = await store.getThread(db, rowsSeenBy(auth), path.threadId);
      return { status: 201, body: { data: await store.appendMessages(db, thread.id, body.messages) } };
    },

    copyThread: async ({ db, auth, path, body }) => {
      const seen = rowsSeenBy(auth);
      const source = await store.getThread(db, seen, path.threadId, { forShare: true });
      const upToSeq = body?.upToSeq ?? source.messageCount;
      if (upToSeq > source.messageCount) {
        const detail = `The thread has ${source.messageCount} messages: upToSeq can be at most that.`;
        throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/upToSeq', in: 'body', detail }] });
      }
      const id = await store.insertThread(
        db,
        { applicationId: source.applicationId, endUserId: source.endUserId },
        { agentId: source.agentId, title: body?.title ?? source.title, metadata: source.metadata, state: source.state, ttlSeconds: source.ttlSeconds },
      );
      await store.copyMessages(db, source.id, id, upToSeq);
      return created(db, await store.getThread(db, seen, id));
    },

    createThreadRun: async ({ db, auth, path, body, afterCommit }) => {
      const seen = rowsSeenBy(auth);
      // The thread first, then its runs: the order every change to both takes (threads/runs.ts).
      const thread = await store.getThread(db, seen, path.threadId, { forUpdate: true });
      const agentId = body?.agentId ?? thread.agentId;
      if (!agentId) {
        const detail = 'The thread names no agent: give agentId.';
        throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/agentId', in: 'body', detail }] });
      }
      const { run, events } = await queueRun(
        db,
        {
          applicationId: auth.applicationId,
          agentId,
          input: body?.input ?? {},
          metadata: body?.metadata ?? {},
          ttlSeconds: body?.ttlSeconds,
          endUserId: thread.endUserId,
          thread: { id: thread.id, messages: body?.messages ?? [] },
          createdBy: callerOf(auth),
        },
        leaseSeconds,
      );
      const over = await admitNewRun(db, run.id, 'refuse');
      const cancelled = await makeRoom(db, thread.id, body?.multitaskStrategy ?? 'enqueue', run.id);
      await store.setLastRun(db, thread, run.id);
      afterCommit(() => bus.publish([...cancelled, ...events, ...(over?.events ?? [])]));
      return { status: 201, body: over ? toRun(over.row) : run, headers: { Location: `/api/v1/runs/${run.id}` } };
    },
  });
