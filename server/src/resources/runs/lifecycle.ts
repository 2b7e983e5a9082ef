import type { Knex } from 'knex';
import { isPostgres, type Db, type Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import type { RunnerIdentity } from '../../auth/runner-auth.js';
import { newId } from '../../util/ids.js';
import { isoAfter, nowIso } from '../../util/time.js';
import type { StoredEvent } from './events.js';
import { LEASED } from './state-machine.js';
import { findRunRow, insertRun, queuedAgain, toRun, transitionRun, type NewRun, type Run, type RunRow } from './store.js';
import { getAgent } from '../agents/store.js';
import { inputRulesOf, resolveInput, type InputRules } from '../agents/inputs.js';
import { agentMachine } from '../agents/state-machine.js';
import { dispatchForAgent } from './dispatch.js';
import { addRunMessages, messagesToStart, THREAD_ACTIVE } from '../threads/runs.js';
import { parkForConnection } from '../connections/waits.js';

const leaseLost = (detail: string) => new ProblemError('lease-lost', detail);

const DEFAULT_TTL_SECONDS = 3600;

/**
 * Inserts a queued run, its input resolved from the agent's layers (agents/inputs.ts). `refuse`:
 * input that breaks the rules is the caller's error (400, 422). `override`, for runs nobody waits
 * on (a schedule's, a task's): locked fields take their values, and an input the schema refuses
 * makes a run cancelled at once (`invalid_input`, saying why), so its owner sees it; `cancelled`
 * says so.
 */
export async function insertResolvedRun(
  db: Executor,
  run: NewRun,
  rules: InputRules,
  mode: 'refuse' | 'override',
): Promise<{ run: Run; events: StoredEvent[]; cancelled: boolean }> {
  let input = run.input;
  let invalid: string | null = null;
  try {
    input = resolveInput(rules, run.input, '/input', mode);
  } catch (err) {
    if (mode === 'refuse' || !(err instanceof ProblemError)) throw err;
    invalid = err.detail;
  }
  const created = await insertRun(db, { ...run, input });
  if (!invalid) return { ...created, cancelled: false };
  const row = await findRunRow(db, { id: created.run.id }, true);
  const cancelled = await transitionRun(db, row, 'cancelled', { error_code: 'invalid_input', error_message: invalid.slice(0, 2000) });
  return { run: toRun(cancelled.row), events: [...created.events, ...cancelled.events], cancelled: true };
}

/**
 * Queues a run of an agent's current version (the API's: `createRun`, `createThreadRun`; a task's,
 * in `override` mode), with whether an online runner can take it. The agent is read under a shared
 * lock: a concurrent pause, retire or delete waits for the run to be created, or wins first (409 then).
 */
export async function queueRun(
  db: Executor,
  run: Omit<NewRun, 'agentVersion' | 'ttlSeconds' | 'triggeredBy'> & { ttlSeconds: number | undefined; triggeredBy?: NewRun['triggeredBy'] },
  leaseSeconds: number,
  inputMode: 'refuse' | 'override' = 'refuse',
): Promise<{ run: Run; events: StoredEvent[]; cancelled: boolean }> {
  const agent = await getAgent(db, run.applicationId, run.agentId, { forShare: true });
  agentMachine.assertTransition('startRun', agent.status);
  const dispatch = await dispatchForAgent(db, run.applicationId, agent.labels, leaseSeconds);
  const created = await insertResolvedRun(
    db,
    {
      ...run,
      agentVersion: agent.version,
      ttlSeconds: run.ttlSeconds ?? DEFAULT_TTL_SECONDS,
      triggeredBy: run.triggeredBy ?? { type: 'api', id: null },
    },
    await inputRulesOf(db, agent),
    inputMode,
  );
  return { ...created, run: created.cancelled ? created.run : { ...created.run, dispatch } };
}

/**
 * The oldest queued run this runner may take: its agent's labels are all among the runner's, the
 * agent is under its concurrency limit, a thread's run is the thread's next (none of its runs is
 * active, none queued before it), and (on PostgreSQL) no other claim holds it.
 */
async function nextClaimable(trx: Executor, runner: RunnerIdentity): Promise<RunRow | undefined> {
  const now = nowIso();
  const query = trx('runs')
    .select('runs.*')
    .join('agents', 'agents.id', 'runs.agent_id')
    .where('runs.application_id', runner.applicationId)
    .where('runs.status', 'queued')
    .where('runs.expires_at', '>', now)
    .whereNotExists((q) => {
      q.select(trx.raw('1')).from('agent_labels').whereRaw('agent_labels.agent_id = runs.agent_id');
      if (runner.labels.length) q.whereNotIn('agent_labels.label', runner.labels);
    })
    .where((q) => {
      q.whereNull('agents.max_concurrent_runs').orWhere(
        'agents.max_concurrent_runs',
        '>',
        trx('runs as busy')
          .count('*')
          .whereRaw('busy.agent_id = runs.agent_id')
          .whereIn('busy.status', [...LEASED])
          // A run waiting on a person holds no lease (null lease_expires_at) and takes no capacity;
          // the index runs (agent_id, status, lease_expires_at) reads only the runs that do.
          .whereNotNull('busy.lease_expires_at'),
      );
    })
    .where((q) => {
      q.whereNull('runs.thread_id').orWhere((onThread) => {
        onThread
          .whereNotExists((active) => {
            active
              .select(trx.raw('1'))
              .from('runs as active')
              .whereRaw('active.thread_id = runs.thread_id')
              .whereIn('active.status', [...THREAD_ACTIVE]);
          })
          // By creation, not queued_at: a re-queued run keeps its place on its thread.
          .whereNotExists((earlier) => {
            earlier
              .select(trx.raw('1'))
              .from('runs as earlier')
              .whereRaw('earlier.thread_id = runs.thread_id')
              .where('earlier.status', 'queued')
              .where('earlier.expires_at', '>', now)
              .whereRaw('(earlier.created_at < runs.created_at or (earlier.created_at = runs.created_at and earlier.id < runs.id))');
          });
      });
    })
    .orderBy([{ column: 'runs.queued_at' }, { column: 'runs.id' }])
    .limit(1);
  // SQLite runs one write transaction at a time; PostgreSQL needs the row lock, skipping rows other claims hold.
  if (isPostgres(trx)) query.forUpdate('runs').skipLocked();
  return (await query)[0] as RunRow | undefined;
}

/**
 * Claims one run for the runner, or none; starts its lease. `claimed` runs in the claim's
 * transaction (its audit event). A run that lacks a connection by now is `parked` instead: it
 * waits for it, and nothing is claimed.
 */
export async function claimNext(
  db: Db,
  runner: RunnerIdentity,
  leaseSeconds: number,
  claimed: (trx: Knex.Transaction, row: RunRow) => Promise<void>,
): Promise<{ row: RunRow; events: StoredEvent[]; parked?: true } | undefined> {
  return db.transaction(async (trx) => {
    const row = await nextClaimable(trx, runner);
    if (!row) return undefined;
    // A connection its agent needs may have been revoked, or come to need re-authorisation, since
    // it was queued: it is not handed out but waits for it again, as it would have at creation.
    const parked = await parkForConnection(trx, row, 'record');
    if (parked) return { ...parked, parked: true };
    const agent = await trx('agents').where({ id: row.agent_id }).first<{
      timeout_seconds: number;
      max_concurrent_runs: number | null;
    }>('timeout_seconds', 'max_concurrent_runs');
    // Concurrent claims cannot see each other's uncommitted runs: with a limit, count again under the agent's lock.
    if (agent.max_concurrent_runs !== null && isPostgres(trx)) {
      await trx('agents').where({ id: row.agent_id }).first('id').forUpdate();
      const [{ busy }] = (await trx('runs')
        .where({ agent_id: row.agent_id })
        .whereIn('status', [...LEASED])
        .whereNotNull('lease_expires_at')
        .count({ busy: '*' })) as [{ busy: number | string }];
      if (Number(busy) >= agent.max_concurrent_runs) return undefined;
    }
    const starting = await messagesToStart(trx, row);
    if (!starting) return undefined;
    const now = nowIso();
    const result = await transitionRun(
      trx,
      row,
      'running',
      {
        fencing_token: Number(row.fencing_token) + 1,
        lease_id: newId('lease'),
        lease_runner_id: runner.runnerId,
        lease_expires_at: isoAfter(leaseSeconds * 1000),
        lease_created_at: now,
        lease_updated_at: now,
        started_at: row.started_at ?? now,
        // timeoutSeconds bounds each attempt, so every claim sets a new deadline; a run resumed
        // after waiting on a person goes on with what was left of its attempt's.
        deadline_at: isoAfter(row.timeout_left_ms === null ? agent.timeout_seconds * 1000 : Number(row.timeout_left_ms)),
        timeout_left_ms: null,
        thread_messages: null,
      },
      { runnerId: runner.runnerId },
    );
    result.events.push(...(await addRunMessages(trx, result.row, starting)));
    await claimed(trx, result.row);
    return result;
  });
}

/**
 * The run behind a lease, locked, if this runner still holds it with this fencing token; 409
 * lease-lost otherwise. A lease that expired is lost even before the reaper has seen it.
 */
export async function holdLease(db: Executor, runner: RunnerIdentity, leaseId: string, fencingToken: number): Promise<RunRow> {
  const row = (await db('runs').where({ lease_id: leaseId, application_id: runner.applicationId }).first().forUpdate()) as RunRow | undefined;
  if (!row) throw leaseLost(`Lease ${leaseId} is no longer held: its run was re-queued and claimed by a newer lease.`);
  if (row.lease_runner_id !== runner.runnerId) throw new ProblemError('forbidden', `Lease ${leaseId} belongs to another runner.`);
  if (!LEASED.includes(row.status)) throw leaseLost(`Lease ${leaseId} is no longer held: the run is ${row.status}.`);
  if (row.status === 'waiting' && !row.lease_expires_at) {
    throw leaseLost(`Lease ${leaseId} ended when the run began to wait on a person; the run resumes through a new claim once decided.`);
  }
  if (Number(row.fencing_token) !== fencingToken) {
    throw leaseLost(`Fencing token ${fencingToken} is stale; the run's current token is ${row.fencing_token}.`);
  }
  if (!row.lease_expires_at || row.lease_expires_at <= nowIso()) throw leaseLost(`Lease ${leaseId} expired at ${row.lease_expires_at}.`);
  return row;
}

export async function extendLease(db: Executor, row: RunRow, leaseSeconds: number): Promise<RunRow> {
  const changes = { lease_expires_at: isoAfter(leaseSeconds * 1000), lease_updated_at: nowIso() };
  await db('runs').where({ id: row.id, lease_id: row.lease_id }).update(changes);
  return { ...row, ...changes };
}

/**
 * The runner of a leased run is gone: the run goes back to the queue for another attempt, or fails
 * with runner_lost when the agent's maxAttempts are used up.
 */
export async function loseRunner(trx: Executor, row: RunRow, reason: string): Promise<{ row: RunRow; events: StoredEvent[] }> {
  const agent = await trx('agents').where({ id: row.agent_id }).first<{ max_attempts: number } | undefined>('max_attempts');
  if (row.attempt < (agent?.max_attempts ?? 1)) {
    return transitionRun(
      trx,
      row,
      'queued',
      // The old lease id stays until the next claim replaces it, so its runner learns the run was re-queued.
      { attempt: row.attempt + 1, ...queuedAgain(row), timeout_left_ms: null },
      { reason },
    );
  }
  return transitionRun(
    trx,
    row,
    'failed',
    { error_code: 'runner_lost', error_message: `The runner was lost (${reason}) on the last allowed attempt.` },
    { reason },
  );
}

const REAP_BATCH = 100;

/**
 * One pass of the reaper: lost leases, runs past their timeout, queued runs past their TTL. Each
 * run is handled in its own transaction after re-reading it locked, so replicas may reap at once.
 */
export async function reap(db: Db): Promise<StoredEvent[]> {
  const now = nowIso();
  const published: StoredEvent[] = [];
  const handle = async (ids: string[], act: (trx: Executor, row: RunRow) => Promise<{ events: StoredEvent[] } | undefined>) => {
    for (const id of ids) {
      const events = await db.transaction(async (trx) => {
        const row = await findRunRow(trx, { id }, true).catch(() => undefined);
        return row ? ((await act(trx, row))?.events ?? []) : [];
      });
      published.push(...events);
    }
  };
  const ids = async (q: (b: ReturnType<Db>) => ReturnType<Db>) => ((await q(db('runs')).select('id').limit(REAP_BATCH)) as { id: string }[]).map((r) => r.id);

  await handle(await ids((q) => q.whereIn('status', [...LEASED]).where('deadline_at', '<=', now)), async (trx, row) =>
    LEASED.includes(row.status) && row.deadline_at && row.deadline_at <= now
      ? transitionRun(trx, row, 'timed_out', { error_code: 'timed_out', error_message: "The run exceeded its agent's timeoutSeconds." })
      : undefined,
  );
  await handle(await ids((q) => q.whereIn('status', [...LEASED]).where('lease_expires_at', '<=', now)), async (trx, row) =>
    LEASED.includes(row.status) && row.lease_expires_at && row.lease_expires_at <= now ? loseRunner(trx, row, 'lease_expired') : undefined,
  );
  await handle(await ids((q) => q.where('status', 'queued').where('expires_at', '<=', now)), async (trx, row) =>
    row.status === 'queued' && row.expires_at <= now
      ? transitionRun(trx, row, 'expired', { error_code: 'expired', error_message: 'No runner claimed the run before it expired.' })
      : undefined,
  );
  return published;
}
