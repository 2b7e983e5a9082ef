import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { withDispatch } from './dispatch.js';
import { queueRun } from './lifecycle.js';
import { runEventsAfter, type RunEventBus } from './events.js';
import { findRunRow, listRuns, toRun, transitionRun, type Run } from './store.js';
import { callerOf, rowsSeenBy } from '../../auth/identity.js';
import { admitNewRun } from '../budgets/admission.js';

export function runHandlers(bus: RunEventBus, leaseSeconds: number) {
  const withOne = async (db: Executor, applicationId: string, run: Run) => (await withDispatch(db, applicationId, [run], leaseSeconds))[0]!;

  return defineHandlers({
    createRun: async ({ db, auth, body, afterCommit }) => {
      const { run, events } = await queueRun(
        db,
        {
          applicationId: auth.applicationId,
          agentId: body.agentId,
          input: body.input ?? {},
          metadata: body.metadata ?? {},
          ttlSeconds: body.ttlSeconds,
          endUserId: auth.endUserId ?? null,
          createdBy: callerOf(auth),
        },
        leaseSeconds,
      );
      const over = await admitNewRun(db, run.id, 'refuse');
      afterCommit(() => bus.publish([...events, ...(over?.events ?? [])]));
      return { status: 201, body: over ? toRun(over.row) : run, headers: { Location: `/api/v1/runs/${run.id}` } };
    },

    listRuns: async ({ db, auth, query }) => {
      const page = await listRuns(db, auth.applicationId, query, auth.endUserId);
      return { status: 200, body: { ...page, data: await withDispatch(db, auth.applicationId, page.data, leaseSeconds) } };
    },

    getRun: async ({ db, auth, path }) => ({
      status: 200,
      body: await withOne(db, auth.applicationId, toRun(await findRunRow(db, { id: path.runId, ...rowsSeenBy(auth) }))),
    }),

    cancelRun: async ({ db, auth, path, afterCommit }) => {
      const row = await findRunRow(db, { id: path.runId, ...rowsSeenBy(auth) }, true);
      const { row: next, events } = await transitionRun(
        db,
        row,
        'cancelled',
        { error_code: 'cancelled', error_message: 'Cancelled by request.' },
        { by: 'api' },
      );
      afterCommit(() => bus.publish(events));
      return { status: 200, body: toRun(next) };
    },

    listRunEvents: async ({ db, auth, path, query }) => {
      const run = await findRunRow(db, { id: path.runId, ...rowsSeenBy(auth) });
      const limit = query.limit ?? 100;
      const events = await runEventsAfter(db, run.id, query.after ?? 0, limit + 1);
      const page = events.slice(0, limit);
      const hasMore = events.length > limit;
      return { status: 200, body: { data: page, hasMore, nextAfter: hasMore ? page[page.length - 1]!.seq : null } };
    },
  });
}
