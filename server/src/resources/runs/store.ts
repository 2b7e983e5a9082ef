import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter, nowIso } from '../../util/time.js';
import { insertRows } from '../../db/statements.js';
import { appendEvents, eventRows, insertEvents, toStored, type StoredEvent } from './events.js';
import { LEASED, runMachine, type RunStatus } from './state-machine.js';
import { enabledEndpoints, recordEvent, recordEventFor, type EndpointTarget } from '../webhooks/outbox.js';
import { pendingApprovalOf, resolveApproval, toApproval } from '../approvals/store.js';
import { followRun } from '../tasks/checkouts.js';
import { releaseRun } from '../budgets/enforcement.js';
import type { Caller } from '../../auth/identity.js';
import { tracer } from '../../observability/tracing.js';

export type Run = components['schemas']['Run'];
export type Lease = components['schemas']['Lease'];

export type RunRow = {
  id: string;
  application_id: string;
  agent_id: string;
  agent_version: number;
  input: string;
  output: string | null;
  error_code: string | null;
  error_message: string | null;
  status: RunStatus;
  required_action: string | null;
  /** What a waiting run waits for (RunWaitingFor, JSON). */
  waiting_for: string | null;
  /** How its last wait ended (RunResumption, JSON), for every claim until it waits again. */
  resume: string | null;
  /** What was left of the attempt's timeout when the run began to wait; the claim that resumes it starts from there. */
  timeout_left_ms: number | string | null;
  triggered_by_type: Run['triggeredBy']['type'];
  triggered_by_id: string | null;
  end_user_id: string | null;
  thread_id: string | null;
  /** A thread run's messages (JSON), until it starts and adds them to the thread. */
  thread_messages: string | null;
  /** The key or person that started the run, whom its usage is attributed to. */
  created_by_key_id: string | null;
  created_by_user_id: string | null;
  attempt: number;
  usage_input_tokens: number | string;
  usage_output_tokens: number | string;
  cost_micros: number | string;
  metadata: string;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string;
  deadline_at: string | null;
  fencing_token: number | string;
  lease_id: string | null;
  lease_runner_id: string | null;
  lease_expires_at: string | null;
  lease_created_at: string | null;
  lease_updated_at: string | null;
  last_seq: number | string;
  /** The trace it belongs to (a W3C traceparent), when tracing was on at its creation. */
  trace_context: string | null;
  created_at: string;
  updated_at: string;
};

const RUN_COLUMNS = columnsOf<RunRow>({
  id: true,
  application_id: true,
  agent_id: true,
  agent_version: true,
  input: true,
  output: true,
  error_code: true,
  error_message: true,
  status: true,
  required_action: true,
  waiting_for: true,
  resume: true,
  timeout_left_ms: true,
  triggered_by_type: true,
  triggered_by_id: true,
  trace_context: true,
  end_user_id: true,
  thread_id: true,
  thread_messages: true,
  created_by_key_id: true,
  created_by_user_id: true,
  attempt: true,
  usage_input_tokens: true,
  usage_output_tokens: true,
  cost_micros: true,
  metadata: true,
  queued_at: true,
  started_at: true,
  finished_at: true,
  expires_at: true,
  deadline_at: true,
  fencing_token: true,
  lease_id: true,
  lease_runner_id: true,
  lease_expires_at: true,
  lease_created_at: true,
  lease_updated_at: true,
  last_seq: true,
  created_at: true,
  updated_at: true,
});

export const toRun = (row: RunRow): Run => ({
  id: row.id,
  object: 'run',
  agentId: row.agent_id,
  agentVersion: row.agent_version,
  input: fromJsonColumn(row.input, {}),
  output: row.output === null ? null : fromJsonColumn(row.output, {}),
  error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
  status: row.status,
  requiredAction: row.required_action ? fromJsonColumn(row.required_action, null) : null,
  waitingFor: row.status === 'waiting' ? fromJsonColumn(row.waiting_for, null) : null,
  triggeredBy: { type: row.triggered_by_type, id: row.triggered_by_id },
  endUserId: row.end_user_id,
  threadId: row.thread_id,
  attempt: row.attempt,
  usage: { inputTokens: Number(row.usage_input_tokens), outputTokens: Number(row.usage_output_tokens) },
  costMicros: Number(row.cost_micros),
  metadata: fromJsonColumn(row.metadata, {}),
  queuedAt: row.queued_at,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  // Only a queued run has one; the API's run operations work it out (dispatch.ts), other copies leave it out.
  ...(row.status === 'queued' ? {} : { dispatch: null }),
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toLease = (row: RunRow): Lease => ({
  id: row.lease_id!,
  object: 'lease',
  runId: row.id,
  runnerId: row.lease_runner_id!,
  fencingToken: Number(row.fencing_token),
  expiresAt: row.lease_expires_at!,
  createdAt: row.lease_created_at!,
  updatedAt: row.lease_updated_at!,
});

/** The runs a request may see: the application's, and only the end-user's when it acts for one (another's is not found). */
export async function findRunRow(db: Executor, where: { id: string; application_id?: string; end_user_id?: string }, forUpdate = false): Promise<RunRow> {
  return getRow<RunRow>(db, 'runs', where, 'run', { forUpdate }, RUN_COLUMNS);
}

/** The runs a runner holds a lease on, locked. */
export async function leasedRunRows(db: Executor, runnerId: string): Promise<RunRow[]> {
  return (
    (await db('runs')
      .where({ lease_runner_id: runnerId })
      .whereIn('status', [...LEASED])
      // A run waiting on a person holds no lease (its lease_expires_at is null): losing the runner is nothing to it.
      .whereNotNull('lease_expires_at')
      .forUpdate()) as RunRow[]
  );
}

/** Whether an agent has any run, which keeps it from being deleted. */
export async function agentHasRuns(db: Executor, agentId: string): Promise<boolean> {
  return Boolean(await db('runs').where({ agent_id: agentId }).first<{ id: string } | undefined>('id'));
}

/**
 * The runs not finished, across every application, by status, and when the oldest queued one was
 * queued: ranges of the (status, queued_at) index, never the finished runs, however many there are.
 */
export async function activeRunCounts(db: Executor): Promise<{ queued: number; running: number; waiting: number; oldestQueuedAt: string | null }> {
  const counts = await db('runs')
    .whereIn('status', ['queued', 'running', 'waiting'])
    .groupBy('status')
    .select('status')
    .count<{ status: RunStatus; n: number | string }[]>({ n: '*' });
  const oldest = (await db('runs').where({ status: 'queued' }).min({ at: 'queued_at' }).first()) as { at: string | null } | undefined;
  const of = (status: RunStatus) => Number(counts.find((c) => c.status === status)?.n ?? 0);
  return { queued: of('queued'), running: of('running'), waiting: of('waiting'), oldestQueuedAt: oldest?.at ?? null };
}

export type NewRun = {
  applicationId: string;
  agentId: string;
  agentVersion: number;
  input: Record<string, unknown>;
  metadata: Record<string, string>;
  ttlSeconds: number;
  endUserId: string | null;
  triggeredBy: Run['triggeredBy'];
  /** For a scheduled run, the due time it fired for (recorded in its first event). */
  scheduledFor?: string;
  /** For a run on a thread, the thread and the messages the run adds to it when it starts. */
  thread?: { id: string; messages: unknown[] };
  /** The key or person that started it (none for schedules, triggers and runs' own changes). */
  createdBy?: Caller;
};

/** Inserts a queued run and its first status event. */
export async function insertRun(db: Executor, run: NewRun): Promise<{ run: Run; events: StoredEvent[] }> {
  const now = nowIso();
  const id = newId('run');
  const row: RunRow = {
    id,
    application_id: run.applicationId,
    agent_id: run.agentId,
    agent_version: run.agentVersion,
    input: toJsonColumn(run.input),
    output: null,
    error_code: null,
    error_message: null,
    status: 'queued',
    required_action: null,
    waiting_for: null,
    resume: null,
    timeout_left_ms: null,
    triggered_by_type: run.triggeredBy.type,
    triggered_by_id: run.triggeredBy.id,
    end_user_id: run.endUserId,
    thread_id: run.thread?.id ?? null,
    thread_messages: run.thread?.messages.length ? toJsonColumn(run.thread.messages) : null,
    created_by_key_id: run.createdBy?.keyId ?? null,
    created_by_user_id: run.createdBy?.userId ?? null,
    attempt: 1,
    usage_input_tokens: 0,
    usage_output_tokens: 0,
    cost_micros: 0,
    metadata: toJsonColumn(run.metadata),
    queued_at: now,
    started_at: null,
    finished_at: null,
    expires_at: isoAfter(run.ttlSeconds * 1000),
    deadline_at: null,
    fencing_token: 0,
    lease_id: null,
    lease_runner_id: null,
    lease_expires_at: null,
    lease_created_at: null,
    lease_updated_at: null,
    // Its first event, the status one below, is numbered with the row.
    last_seq: 1,
    trace_context: tracer()?.runContext(run.triggeredBy.type, id) ?? null,
    created_at: now,
    updated_at: now,
  };
  const created = toRun(row);
  const data = { status: 'queued', previousStatus: null, attempt: 1, ...(run.scheduledFor ? { scheduledFor: run.scheduledFor } : {}) };
  const first = [{ type: 'status', data }];
  if (isPostgres(db)) {
    // One round trip instead of three: the run, its first event (numbered after commit) and the
    // application's webhook endpoints, in one statement; then the outbox messages, if any.
    const events = eventRows(row, first, 1, null);
    const endpoints = (await enabledEndpoints(db, row.application_id)
      .with('run', db('runs').insert(row))
      .with('event', db('run_events').insert(events))) as EndpointTarget[];
    await recordEventFor(db, endpoints, row.application_id, 'run.queued', created);
    return { run: created, events: events.map(toStored) };
  }
  await insertRows(db, 'runs', [row]);
  await recordEvent(db, row.application_id, 'run.queued', created);
  return { run: created, events: await insertEvents(db, row, first, 1) };
}

export type RunFilters = PageQuery & {
  status?: RunStatus;
  agentId?: string;
  endUserId?: string;
  threadId?: string;
  createdAfter?: string;
  createdBefore?: string;
  triggeredBy?: Run['triggeredBy'];
};

/** `actingFor`: the end-user the request acts for, whose runs alone it lists (whatever the filters say). */
export function listRuns(db: Executor, applicationId: string, filters: RunFilters, actingFor?: string) {
  const query = db('runs').where({ application_id: applicationId });
  if (actingFor) query.where({ end_user_id: actingFor });
  if (filters.status) query.where({ status: filters.status });
  if (filters.agentId) query.where({ agent_id: filters.agentId });
  if (filters.endUserId) query.where({ end_user_id: filters.endUserId });
  if (filters.threadId) query.where({ thread_id: filters.threadId });
  if (filters.createdAfter) query.where('created_at', '>=', new Date(filters.createdAfter).toISOString());
  if (filters.createdBefore) query.where('created_at', '<', new Date(filters.createdBefore).toISOString());
  if (filters.triggeredBy) query.where({ triggered_by_type: filters.triggeredBy.type, triggered_by_id: filters.triggeredBy.id });
  return listPage(query, filters, { createdAt: 'created_at' }, toRun);
}

/**
 * A finished run's usage and cost: the sum of its entries in the usage ledger (its calls through
 * the gateway, attributed to it by its run token, and the reports of the calls its runner made
 * itself), each recorded once, so none is counted twice; and what runs finished before the ledger
 * held reports kept in their own columns. An entry without a price adds its tokens but no cost
 * (the run's cost is a sum of prices). Usage recorded after the run ended is added when it is
 * recorded (see `recordUsage`).
 */
async function withLedgerUsage(db: Executor, run: RunRow): Promise<Pick<RunRow, 'usage_input_tokens' | 'usage_output_tokens' | 'cost_micros'>> {
  const ledger = await db('usage_events')
    .where({ run_id: run.id })
    .first<{ input_tokens: number | string; output_tokens: number | string; cost_micros: number | string }>(
      db.raw('coalesce(sum(input_tokens), 0) as input_tokens'),
      db.raw('coalesce(sum(output_tokens), 0) as output_tokens'),
      db.raw('coalesce(sum(cost_micros), 0) as cost_micros'),
    );
  return {
    usage_input_tokens: Number(run.usage_input_tokens) + Number(ledger.input_tokens),
    usage_output_tokens: Number(run.usage_output_tokens) + Number(ledger.output_tokens),
    cost_micros: Number(run.cost_micros) + Number(ledger.cost_micros),
  };
}

/** Whether the run has ended, its row locked until the caller's transaction ends (see `recordUsage`). */
export async function isFinishedRun(trx: Executor, runId: string): Promise<boolean> {
  const run = await trx('runs').where({ id: runId }).forUpdate().first<{ status: RunStatus } | undefined>('status');
  return run !== undefined && runMachine.isTerminal(run.status);
}

/** Adds a call that ended after its run to the run's totals. */
export async function addToRunUsage(
  trx: Executor,
  runId: string,
  usage: { inputTokens: number | null; outputTokens: number | null; costMicros: number | null },
) {
  await trx('runs')
    .where({ id: runId })
    .update({
      usage_input_tokens: trx.raw('usage_input_tokens + ?', [usage.inputTokens ?? 0]),
      usage_output_tokens: trx.raw('usage_output_tokens + ?', [usage.outputTokens ?? 0]),
      cost_micros: trx.raw('cost_micros + ?', [usage.costMicros ?? 0]),
    });
}

/** Column changes that go with a transition. */
export type RunChanges = Partial<Omit<RunRow, 'id' | 'application_id' | 'status' | 'last_seq'>>;

/** A run going back to the queue gets a fresh time to be claimed in: as long as its first, from now. */
export const queuedAgain = (row: Pick<RunRow, 'expires_at' | 'queued_at'>) => ({
  queued_at: nowIso(),
  expires_at: isoAfter(Math.max(Date.parse(row.expires_at) - Date.parse(row.queued_at), 1000)),
});

/**
 * Moves a locked run to `to`, with its column changes and a status event, in the caller's
 * transaction; 409 invalid-transition, naming the current status, when the machine forbids it.
 */
export async function transitionRun(
  db: Executor,
  row: RunRow,
  to: RunStatus,
  changes: RunChanges = {},
  eventData: Record<string, unknown> = {},
): Promise<{ row: RunRow; events: StoredEvent[] }> {
  const { event } = runMachine.assertTransition(to, row.status);
  const now = nowIso();
  const next: RunRow = { ...row, ...changes, status: to, updated_at: now };
  // A finished run keeps its last lease id, so a late runner is told what became of the run.
  if (runMachine.isTerminal(to)) {
    next.finished_at = now;
    Object.assign(next, await withLedgerUsage(db, next));
  }
  if (to !== 'waiting') {
    next.required_action = null;
    next.waiting_for = null;
  }
  const { id: _id, application_id: _app, last_seq: _seq, ...columns } = next;
  const updated = await db('runs').where({ id: row.id, status: row.status }).update(columns);
  if (updated !== 1) throw new ProblemError('invalid-transition', `The run changed while this request was handled; it is no longer ${row.status}.`);
  const data: Record<string, unknown> = { status: to, previousStatus: row.status, attempt: next.attempt, ...eventData };
  if (next.error_code && runMachine.isTerminal(to)) data.error = { code: next.error_code, message: next.error_message ?? '' };
  const { stored } = await appendEvents(db, next, [{ type: 'status', data }]);
  await recordEvent(db, row.application_id, event, toRun(next));
  // A run that leaves its wait otherwise than by its resolution (cancelled, timed out, re-queued
  // by a lost runner) leaves nobody anything to decide; a resolution has already ended it.
  if (row.status === 'waiting') {
    const cancelled = await cancelPendingApproval(db, next);
    stored.push(...cancelled);
  }
  await followRun(db, row, next);
  // What the run reserved in budgets is let go once it has ended; its usage stays spent.
  if (runMachine.isTerminal(to)) {
    await releaseRun(db, row.id);
    traceRun(next);
  }
  return { row: next, events: stored };
}

/** The `run` span of a run that has ended: from its creation to now, in the trace it was created in. */
function traceRun(run: RunRow) {
  tracer()?.run(run.trace_context, Date.parse(run.created_at), Date.parse(run.finished_at!), {
    'switchboard.run_id': run.id,
    'switchboard.application_id': run.application_id,
    'switchboard.agent_id': run.agent_id,
    'switchboard.run.status': run.status,
    'switchboard.run.attempt': run.attempt,
    'switchboard.run.error_code': run.error_code ?? undefined,
  });
}

/** Cancels the pending approval of a run that ended while it waited, with its `approval.cancelled` event. */
async function cancelPendingApproval(db: Executor, run: RunRow): Promise<StoredEvent[]> {
  const pending = await pendingApprovalOf(db, run.id);
  const cancelled = pending && (await resolveApproval(db, pending, 'cancelled', null));
  if (!cancelled) return [];
  const approval = toApproval(cancelled);
  await recordEvent(db, run.application_id, 'approval.cancelled', approval);
  return (await appendEvents(db, run, [{ type: 'approval.cancelled', data: approval }])).stored;
}
