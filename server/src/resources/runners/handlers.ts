import type { Logger } from 'pino';
import type { Db, Executor } from '../../db/database.js';
import type { Sealer } from '../../security/sealer.js';
import { NOTHING_RELEASED, releaseSecrets, type Released } from '../secrets/delivery.js';
import type { RunnerIdentity } from '../../auth/runner-auth.js';
import type { RunTokens } from '../../auth/run-token.js';
import { etagHeaderWithout } from '../etag.js';
import { defineHandlers, ownTransaction } from '../handler-types.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import { getAgent, getVersion } from '../agents/store.js';
import { apiOfAlias } from '../models/store.js';
import { appendEvents, type RunEventBus, type StoredEvent } from '../runs/events.js';
import { claimNext, extendLease, holdLease, loseRunner } from '../runs/lifecycle.js';
import { leasedRunRows, toLease, toRun, transitionRun, type RunRow } from '../runs/store.js';
import * as store from './store.js';
import { isLiftedLegacyEvent } from '../../versions/changes/typed-run-events.js';
import { addRunMessages, claimedThread, lockThreadOfLease } from '../threads/runs.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { approvalCheckpoint, type StoredResumption } from '../approvals/store.js';
import { reportOnCompletion } from '../usage/reports.js';
import { tracer } from '../../observability/tracing.js';
import type { RunMetrics } from '../../observability/metrics.js';

/** Event types only the server writes: a run's status is changed by operations, and its thread's messages by their own. */
const RESERVED_TYPE = /^(status|run\..*|thread\.message|approval\..*)$/;

const runnerOf = (input: { runner?: RunnerIdentity }): RunnerIdentity => {
  if (!input.runner) throw new ProblemError('unauthorized', 'This operation needs a runner token.');
  return input.runner;
};

/** The claim recorded in the run's trace, and the `traceparent` its runner continues that trace with (when tracing is on). */
function traceOfClaim(row: RunRow, runner: RunnerIdentity): { traceparent?: string } {
  const traceparent = tracer()?.claim(row.trace_context, {
    'switchboard.run_id': row.id,
    'switchboard.application_id': row.application_id,
    'switchboard.runner_id': runner.runnerId,
    'switchboard.run.attempt': row.attempt,
  });
  return traceparent ? { traceparent } : {};
}

/** `stopping`: aborted when this replica drains; a long-poll then answers "nothing yet" at once, and the runner polls another. */
export function runnerHandlers(
  bus: RunEventBus,
  leaseSeconds: number,
  logger: Logger,
  runTokens: RunTokens,
  sealer: Sealer,
  stopping?: AbortSignal,
  metrics?: RunMetrics,
) {
  /** Waits until a run may be claimable (a run was queued in the application), the time is up, or the server is stopping. */
  const queuedSignal = (applicationId: string, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const unsubscribe = bus.subscribe(applicationId, (events) => {
        if (events.some((e) => e.event.type === 'status' && e.event.data.status === 'queued')) done();
      });
      stopping?.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        unsubscribe();
        stopping?.removeEventListener('abort', done);
        resolve();
      }
    });

  /** How the run's last wait ended, with the checkpoint it asked with (kept beside its approval). */
  async function resumptionOf(db: Executor, row: RunRow) {
    const stored = fromJsonColumn<StoredResumption | null>(row.resume, null);
    return stored ? { ...stored, checkpoint: await approvalCheckpoint(db, stored.approvalId) } : null;
  }

  /** Only a resumed run has events of this attempt from an earlier lease: its runner numbers its own after them. */
  async function lastRunnerSeq(db: Executor, row: RunRow) {
    const found = (await db('run_events').where({ run_id: row.id, attempt: row.attempt }).max({ seq: 'runner_seq' }).first()) as
      { seq: number | string | null } | undefined;
    return Number(found?.seq ?? 0);
  }

  async function claimed(db: Executor, row: RunRow, released: Released) {
    const agent = await getAgent(db, row.application_id, row.agent_id);
    const version = await getVersion(db, agent.id, row.agent_version);
    return {
      object: 'claim' as const,
      run: toRun(row),
      agent: {
        id: agent.id,
        name: agent.name,
        version: version.version,
        instructions: version.instructions,
        model: version.model,
        modelApi: await apiOfAlias(db, row.application_id, version.model),
        tools: version.tools,
        secrets: version.secrets,
        config: version.config,
        runtime: agent.runtime,
        url: agent.url,
        limits: agent.limits,
      },
      lease: toLease(row),
      // Minted for this lease only: a later claim of the run (after this lease is lost) mints another, and this one stops working.
      runToken: runTokens.mint({
        runId: row.id,
        leaseId: row.lease_id!,
        fencingToken: Number(row.fencing_token),
        claimedAt: row.lease_created_at!,
        deadlineAt: row.deadline_at!,
      }),
      thread: row.thread_id ? await claimedThread(db, row.thread_id) : null,
      resume: await resumptionOf(db, row),
      lastRunnerSeq: row.resume ? await lastRunnerSeq(db, row) : 0,
      secrets: released.values,
    };
  }

  /**
   * A run whose agent names a secret the application does not have cannot run as written: it fails
   * at once, saying which, instead of reaching a runner that would fail later, less clearly.
   */
  async function failForMissingSecrets(db: Db, runner: RunnerIdentity, claimedRow: RunRow, missing: string[]) {
    const events = await db.transaction(async (trx) => {
      const row = await holdLease(trx, runner, claimedRow.lease_id!, Number(claimedRow.fencing_token));
      const message = `The agent references secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which the application does not have: create ${missing.length > 1 ? 'them' : 'it'} (createSecret) or take ${missing.length > 1 ? 'them' : 'it'} off the agent.`;
      return (await transitionRun(trx, row, 'failed', { output: null, error_code: 'secret_missing', error_message: message })).events;
    });
    await bus.publish(events).catch((err: unknown) => logger.warn({ err }, 'publishing a failed claim failed'));
  }

  return defineHandlers({
    registerRunner: async ({ db: trx, auth, body }) => {
      const runner = await store.insertRunner(trx, auth.applicationId, body);
      return { status: 201, body: runner, headers: { Location: `/api/v1/runners/${runner.id}`, ...etagHeaderWithout(runner, 'token') } };
    },

    listRunners: async ({ db: trx, auth, query }) => ({ status: 200, body: await store.listRunners(trx, auth.applicationId, query) }),

    getRunner: async ({ db: trx, auth, path }) => ({ status: 200, body: await store.getRunner(trx, auth.applicationId, path.runnerId) }),

    deleteRunner: async ({ db: trx, auth, path, afterCommit, checkIfMatch }) => {
      // Locked, so a claim by this runner cannot commit between reading its runs and deleting it.
      const runner = await store.getRunner(trx, auth.applicationId, path.runnerId, { forUpdate: true });
      checkIfMatch(runner);
      const held = await leasedRunRows(trx, runner.id);
      const events: StoredEvent[] = [];
      for (const row of held) events.push(...(await loseRunner(trx, row, 'runner_deleted')).events);
      await store.deleteRunner(trx, runner.id);
      afterCommit(() => bus.publish(events));
      return { status: 204, body: undefined };
    },

    claimRun: ownTransaction<'claimRun'>(async (input) => {
      const runner = runnerOf(input);
      if (input.path.runnerId !== runner.runnerId) throw new ProblemError('forbidden', 'This token belongs to another runner.');
      const deadline = Date.now() + (input.query.wait ?? 0) * 1000;
      for (;;) {
        // A runner that hung up (a stopping worker aborts its long-polls) must not be handed a run.
        if (input.ctx.req.destroyed) return { status: 204, body: undefined };
        let released = NOTHING_RELEASED;
        const started = performance.now();
        const result = await claimNext(input.db, runner, leaseSeconds, async (trx, row) => {
          await input.audit.record(trx, toRun(row), 200);
          released = await releaseSecrets(trx, sealer, row, runner.runnerId);
        });
        metrics?.claimAttempt((performance.now() - started) / 1000, result !== undefined && !result.parked);
        if (result && !result.parked) metrics?.claimed((Date.parse(result.row.lease_created_at!) - Date.parse(result.row.queued_at)) / 1000);
        if (result) {
          await bus.publish(result.events).catch((err: unknown) => logger.warn({ err }, 'publishing a claim failed'));
          // It waits for a connection now: the next queued run may be this runner's.
          if (result.parked) continue;
          if (!released.missing.length)
            return { status: 200, body: { ...(await claimed(input.db, result.row, released)), ...traceOfClaim(result.row, runner) } };
          await failForMissingSecrets(input.db, runner, result.row, released.missing);
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0 || stopping?.aborted) return { status: 204, body: undefined };
        // A missed signal costs at most a second: the loop looks again anyway.
        await queuedSignal(runner.applicationId, Math.min(left, 1000));
      }
    }),

    heartbeatLease: async (input) => {
      const runner = runnerOf(input);
      const row = await holdLease(input.db, runner, input.path.leaseId, input.body.fencingToken);
      const extended = await extendLease(input.db, row, leaseSeconds);
      return { status: 200, body: { lease: toLease(extended), run: toRun(extended) } };
    },

    appendRunEvents: async (input) => {
      const runner = runnerOf(input);
      const issues: ValidationIssue[] = input.body.events.flatMap((e, i) =>
        RESERVED_TYPE.test(e.type) && !isLiftedLegacyEvent(e)
          ? [{ pointer: `/events/${i}/type`, in: 'body' as const, detail: `Event type "${e.type}" is reserved to the server.` }]
          : [],
      );
      if (issues.length) throw new ProblemError('validation-error', 'Some events use reserved types.', { errors: issues });
      const row = await holdLease(input.db, runner, input.path.leaseId, input.body.fencingToken);
      const { stored, duplicates } = await appendEvents(
        input.db,
        row,
        input.body.events.map((e) => ({ type: e.type, data: e.data ?? {}, runnerSeq: e.runnerSeq })),
      );
      // A duplicate whose first append committed but was not numbered yet (PostgreSQL) gets its cursor here too.
      input.afterCommit(() => bus.publish([...stored, ...duplicates.filter((d) => !d.event.cursor)]));
      return {
        status: 200,
        body: {
          object: 'run_event_batch',
          accepted: stored.length,
          duplicates: duplicates.length,
          events: [...duplicates, ...stored].map((s) => s.event).sort((a, b) => a.seq - b.seq),
        },
      };
    },

    completeRun: async (input) => {
      const runner = runnerOf(input);
      const { body } = input;
      if (body.status === 'failed' && !body.error) {
        throw new ProblemError('validation-error', 'A failed run needs an error.', {
          errors: [{ pointer: '/error', in: 'body', detail: 'Required when status is "failed".' }],
        });
      }
      if (body.messages?.length) await lockThreadOfLease(input.db, input.path.leaseId, runner.applicationId);
      const row = await holdLease(input.db, runner, input.path.leaseId, body.fencingToken);
      const added = await addRunMessages(input.db, row, body.messages ?? []);
      if (body.usage || body.costMicros !== undefined) await reportOnCompletion(input.db, row, body);
      const { row: next, events } = await transitionRun(input.db, row, body.status, {
        output: body.status === 'succeeded' ? JSON.stringify(body.output ?? {}) : null,
        error_code: body.status === 'failed' ? body.error!.code : null,
        error_message: body.status === 'failed' ? body.error!.message : null,
      });
      input.afterCommit(() => bus.publish([...added, ...events]));
      return { status: 200, body: toRun(next) };
    },
  });
}
