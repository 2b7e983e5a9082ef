import type { Db, Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { isoAfter } from '../../util/time.js';
import type { RunWaitingFor } from '../approvals/store.js';
import { askedBy, enterWait } from '../approvals/waits.js';
import { parkForConnection, waitsForConnection } from '../connections/waits.js';
import type { StoredEvent } from '../runs/events.js';
import { findRunRow, queuedAgain, transitionRun, type RunRow } from '../runs/store.js';
import { admitRun, budgetsFor, spenderOfRun } from './enforcement.js';
import { withStatus, type BudgetRow } from './store.js';

/** How long a run waits for a person to let it past a budget before it is cancelled. */
const BUDGET_WAIT_MS = 7 * 86_400_000;
/** Waiting runs one pass tries to admit. */
const ADMIT_BATCH = 100;

const budgetRefusal = (err: unknown): (ProblemError & { extra: { budgetId: string } }) | undefined =>
  err instanceof ProblemError && err.code === 'budget-exceeded' && typeof err.extra.budgetId === 'string'
    ? (err as ProblemError & { extra: { budgetId: string } })
    : undefined;

/** Tries the admission in a savepoint, so a refusal takes back what the budgets before it reserved and leaves the rest of the transaction. */
async function tryAdmit(db: Executor, budgets: BudgetRow[], runId: string): Promise<ReturnType<typeof budgetRefusal>> {
  try {
    await db.transaction((savepoint) => admitRun(savepoint, budgets, runId));
    return undefined;
  } catch (err) {
    const refusal = budgetRefusal(err);
    if (!refusal) throw err;
    return refusal;
  }
}

/** The approval a run over a `wait` budget waits on, asked of the organization's admins, and the run in `waiting` on it. */
async function park(db: Executor, row: RunRow, budget: BudgetRow, refusal: ProblemError) {
  const status = (await withStatus(db, budget)).status;
  const payload = {
    budgetId: budget.id,
    budgetName: budget.name,
    window: budget.window,
    amountMicros: Number(budget.amount_micros),
    spentMicros: status.spentMicros,
    reservedMicros: status.reservedMicros,
    runReservationMicros: Number(budget.run_reservation_micros),
  };
  const title = `Budget ${budget.name.length > 120 ? `${budget.name.slice(0, 119)}…` : budget.name} has no room: run it anyway?`;
  return enterWait(
    db,
    row,
    {
      ...askedBy(row),
      kind: 'budget',
      title,
      summary: `${refusal.detail} Approve to run it over the budget (its spending is still counted); reject to cancel it. Raising the budget admits it without a decision.`,
      payload,
      payloadSchema: null,
      responseSchema: null,
      assignees: [{ type: 'role', role: 'admin' }],
      expiresAt: isoAfter(BUDGET_WAIT_MS),
      onExpire: 'cancel_run',
      metadata: {},
      checkpoint: null,
    },
    // requiredAction is what version 2026-12-05 knew, approvals and input: a budget wait has none.
    { required_action: null, lease_expires_at: null, deadline_at: null, timeout_left_ms: null },
    { reason: 'budget_exceeded', budgetId: budget.id },
  );
}

/**
 * Admits a run just queued against the budgets that cover it. Without room, a budget whose policy
 * is `wait` parks it on a `budget` approval; otherwise `refuse` throws the 402 (the caller's
 * transaction rolls back: no run) and `record` cancels it with error `budget_exceeded`, for runs
 * nobody asked for over HTTP (schedules, triggers, tasks), so the refusal is seen. Returns the run
 * as it now is, or undefined when it was admitted as queued.
 */
export async function admitNewRun(db: Executor, runId: string, otherwise: 'refuse' | 'record'): Promise<{ row: RunRow; events: StoredEvent[] } | undefined> {
  const row = await findRunRow(db, { id: runId });
  const parked = await parkForConnection(db, row, otherwise);
  if (parked) return parked;
  const budgets = await budgetsFor(db, spenderOfRun(row));
  if (!budgets.length) return undefined;
  const refusal = await tryAdmit(db, budgets, runId);
  if (!refusal) return undefined;
  const budget = budgets.find((b) => b.id === refusal.extra.budgetId)!;
  if (budget.on_exhausted === 'wait') return park(db, row, budget, refusal);
  if (otherwise === 'refuse') throw refusal;
  return transitionRun(
    db,
    row,
    'cancelled',
    { error_code: 'budget_exceeded', error_message: refusal.detail },
    { reason: 'budget_exceeded', budgetId: budget.id },
  );
}

/**
 * A run waiting for a connection that was just made: queued again (its approval cancelled as it
 * leaves the wait) and admitted afresh, so a second missing connection or a budget without room
 * parks it again. Nothing when it no longer waits for one.
 */
export async function readmitAfterConnection(trx: Executor, runId: string): Promise<StoredEvent[]> {
  const run = await findRunRow(trx, { id: runId }, true);
  if (!waitsForConnection(run)) return [];
  const queued = await transitionRun(trx, run, 'queued', { resume: null, ...queuedAgain(run) }, { reason: 'connection_made' });
  const admitted = await admitNewRun(trx, runId, 'record');
  return [...queued.events, ...(admitted?.events ?? [])];
}

/**
 * A run waiting on budgets, admitted if they all have room now: queued to start, its approval
 * cancelled as it leaves the wait (nobody needs to decide). Nothing when a budget refused it (noted
 * in `blocked`), or the wait ended meanwhile.
 */
async function admitWaiting(trx: Executor, runId: string, blocked: Set<string>): Promise<StoredEvent[]> {
  const run = await findRunRow(trx, { id: runId }, true);
  if (run.status !== 'waiting' || fromJsonColumn<RunWaitingFor | null>(run.waiting_for, null)?.kind !== 'budget') return [];
  const refusal = await tryAdmit(trx, await budgetsFor(trx, spenderOfRun(run)), run.id);
  if (refusal) {
    blocked.add(refusal.extra.budgetId);
    return [];
  }
  return (await transitionRun(trx, run, 'queued', { resume: null, ...queuedAgain(run) }, { reason: 'budget_room' })).events;
}

type WaitingRun = Parameters<typeof spenderOfRun>[0] & { id: string };

/**
 * One pass over the runs waiting on budgets, in the order they were created (their place in line):
 * each is admitted, in a transaction of its own, once every budget that covers it has room again (a
 * run ended, the budget was raised, a new window began). A run does not pass a budget an earlier
 * one is still waiting on.
 */
export async function admitWaitingRuns(db: Db): Promise<StoredEvent[]> {
  const waiting = await db('approvals')
    .join('runs', 'runs.id', 'approvals.run_id')
    .where({ 'approvals.kind': 'budget', 'approvals.status': 'pending' })
    .orderBy([{ column: 'runs.created_at' }, { column: 'runs.id' }])
    .limit(ADMIT_BATCH)
    .select<WaitingRun[]>('runs.id', 'runs.application_id', 'runs.agent_id', 'runs.end_user_id', 'runs.created_by_key_id', 'runs.created_by_user_id');
  const blocked = new Set<string>();
  const published: StoredEvent[] = [];
  for (const run of waiting) {
    if ((await budgetsFor(db, spenderOfRun(run))).some((b) => blocked.has(b.id))) continue;
    published.push(...(await db.transaction((trx) => admitWaiting(trx, run.id, blocked))));
  }
  return published;
}
