import type { components } from '../../generated/openapi.js';
import type { RunnerIdentity } from '../../auth/runner-auth.js';
import { rowsSeenBy, type AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter } from '../../util/time.js';
import type { RunEventBus } from '../runs/events.js';
import { holdLease } from '../runs/lifecycle.js';
import { findRunRow, toRun } from '../runs/store.js';
import { pendingApprovalOf, type RunWaitingFor } from './store.js';
import { actorOf } from './deciders.js';
import { askedBy, decide, enterWait } from './waits.js';

type Run = components['schemas']['Run'];
type RequiredAction = components['schemas']['RequiredAction'];
type Answer = components['schemas']['JsonValue7'];

/** What the pipeline gives the handlers of operations a version removed (versions/retired.ts): they are not in the generated types. */
type RetiredInput<Body> = {
  db: Executor;
  path: Record<string, string>;
  body: Body;
  auth?: AuthContext;
  runner?: RunnerIdentity;
  afterCommit: (task: () => Promise<void>) => void;
};
type RetiredResult = { status: 200; body: Run };

/** How long a 2026-12-05 runner's wait may last: until its run's deadline, which it always counted against. */
const LEGACY_WAIT_FALLBACK_MS = 86_400_000;

/**
 * `waitRun` and `resumeRun`, for clients of version 2026-12-05 and older (removed by
 * `waits-release-leases`). The wait is an approval like any other (in every inbox, decided by
 * `decideApproval` too), but the run keeps its lease, as these clients expect: their runner keeps
 * heartbeating and finds the run `running` again once it is decided.
 */
export function retiredWaitHandlers(bus: RunEventBus) {
  return {
    waitRun: async (input: RetiredInput<{ fencingToken: number; requiredAction: RequiredAction }>): Promise<RetiredResult> => {
      if (!input.runner) throw new ProblemError('unauthorized', 'This operation needs a runner token.');
      const row = await holdLease(input.db, input.runner, input.path.leaseId!, input.body.fencingToken);
      if (row.status !== 'running') throw new ProblemError('invalid-transition', `The run is ${row.status}; it cannot become waiting.`);
      const { requiredAction } = input.body;
      const moved = await enterWait(
        input.db,
        row,
        {
          ...askedBy(row),
          kind: requiredAction.type,
          title: requiredAction.message.replace(/\s+/g, ' ').trim().slice(0, 200) || 'The run needs a person',
          summary: requiredAction.message.length > 200 ? requiredAction.message : null,
          payload: requiredAction.data,
          payloadSchema: null,
          responseSchema: null,
          assignees: [],
          expiresAt: row.deadline_at ?? isoAfter(LEGACY_WAIT_FALLBACK_MS),
          onExpire: 'fail_run',
          metadata: {},
        },
        // The lease and the deadline stay, as these runners expect.
        { required_action: toJsonColumn(requiredAction) },
        { requiredAction },
      );
      const { events } = moved;
      input.afterCommit(() => bus.publish(events));
      return { status: 200, body: toRun(moved.row) };
    },

    resumeRun: async (input: RetiredInput<{ input?: unknown } | undefined>): Promise<RetiredResult> => {
      const auth = input.auth!;
      const row = await findRunRow(input.db, { id: input.path.runId!, ...rowsSeenBy(auth) });
      const waitingFor = fromJsonColumn<RunWaitingFor | null>(row.waiting_for, null);
      const pending = row.status === 'waiting' && waitingFor ? await pendingApprovalOf(input.db, row.id) : undefined;
      if (!pending) throw new ProblemError('invalid-transition', `The run is ${row.status}; only a waiting run can be resumed.`);
      const answer = (input.body?.input ?? {}) as Answer;
      const body = pending.kind === 'input' ? { outcome: 'answer' as const, response: answer } : { outcome: 'approve' as const };
      const { events } = await decide(input.db, pending, body, actorOf(auth), answer);
      input.afterCommit(() => bus.publish(events));
      return { status: 200, body: toRun(await findRunRow(input.db, { id: row.id })) };
    },
  };
}
