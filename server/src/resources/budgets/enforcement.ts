import { isPostgres, type Db, type Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import { ProblemError } from '../../problems/problems.js';
import { isoAfter, nowIso } from '../../util/time.js';
import { recordEvent } from '../webhooks/outbox.js';
import { spentInLedger, thresholdsOf, toBudget, type BudgetRow, type WindowRow } from './store.js';
import { windowAt } from './windows.js';

/** Who spends: what a budget's scope can name. */
export type Spender = { applicationId: string; agentId: string | null; endUserId: string | null; keyId: string | null; userId: string | null };

/** A call's reservation outlives any call; one left by a replica that died is let go after this. */
const CALL_RESERVATION_MS = 3_600_000;
/** A run's is let go when it ends; this only bounds one whose end was never recorded. */
const RUN_RESERVATION_MS = 30 * 86_400_000;

const callHolder = (requestId: string) => `call:${requestId}`;
const runHolder = (runId: string) => `run:${runId}`;

/** The application's budgets whose scope covers the spender, in id order (the order their windows are locked in). */
export async function budgetsFor(db: Executor, spender: Spender): Promise<BudgetRow[]> {
  const scoped: [string, string | null][] = [
    ['agent', spender.agentId],
    ['end_user', spender.endUserId],
    ['api_key', spender.keyId],
    ['user', spender.userId],
  ];
  const named = scoped.filter((s): s is [string, string] => s[1] !== null);
  return db('budgets')
    .where('application_id', spender.applicationId)
    .where((q) => {
      q.where('scope_type', 'application');
      for (const [type, id] of named) q.orWhere({ scope_type: type, scope_id: id });
    })
    .orderBy('id')
    .select<BudgetRow[]>('*');
}

/**
 * The budget's counters for the window `now` falls in, locked until the transaction ends; created
 * from the ledger's sum the first time (before the caller records anything, so nothing is counted
 * twice).
 */
async function lockWindow(db: Executor, budget: BudgetRow, now: Date): Promise<WindowRow> {
  const span = windowAt(budget.window, now);
  const read = () =>
    selectRows<WindowRow>(db, `select * from budget_windows where budget_id = ? and window_key = ?${isPostgres(db) ? ' for update' : ''}`, [
      budget.id,
      span.key,
    ]);
  const [found] = await read();
  if (found) return found;
  const spent = await spentInLedger(db, budget, span);
  await db('budget_windows')
    .insert({ budget_id: budget.id, window_key: span.key, spent_micros: spent, reserved_micros: 0, threshold_percent: 0, exhausted: false })
    .onConflict(['budget_id', 'window_key'])
    .ignore();
  return (await read())[0]!;
}

const addTo = (db: Executor, row: Pick<WindowRow, 'budget_id' | 'window_key'>, change: { spent?: number; reserved?: number }) =>
  db('budget_windows')
    .where({ budget_id: row.budget_id, window_key: row.window_key })
    .update({
      spent_micros: db.raw('spent_micros + ?', [change.spent ?? 0]),
      // A reservation is let go once; never below zero if a counter was reset meanwhile.
      reserved_micros: db.raw(`case when reserved_micros + ? < 0 then 0 else reserved_micros + ? end`, [change.reserved ?? 0, change.reserved ?? 0]),
    });

/** Micro-USD as USD, to the micro-dollar (cheap calls must not read as 0.00), with at least cents. */
const usd = (micros: number) => `${(micros / 1_000_000).toFixed(6).replace(/(\.\d\d\d*?)0+$/, '$1')} USD`;

const exceeded = (budget: BudgetRow, left: number, need: number, what: string) =>
  new ProblemError(
    'budget-exceeded',
    `Budget ${budget.id} (${budget.name}) has ${usd(Math.max(0, left))} left of ${usd(Number(budget.amount_micros))} ${budget.window === 'total' ? 'in total' : `this ${budget.window}`}; ${what} ${usd(need)}.`,
    { budgetId: budget.id },
  );

type Reservation = { holder: string; need: (b: BudgetRow) => number; what: string; expiresMs: number; runId?: string; override?: boolean };

/**
 * Reserves `need(budget)` in each budget's current window, or throws 402 naming the first without
 * room (the transaction then rolls every reservation back). Room is the amount less what was
 * spent and reserved; a run's call may also use what its run reserved. Nothing fits a budget with
 * nothing left, not even a call that cannot be priced. A run a person let past a budget (its
 * reservation marked `override`) is never refused by it; `override` grants that to a new run where
 * it has no room.
 */
async function reserve(db: Executor, budgets: BudgetRow[], r: Reservation) {
  const now = new Date();
  for (const budget of budgets) {
    const counters = await lockWindow(db, budget, now);
    const own = r.runId
      ? await db('budget_reservations')
          .where({ budget_id: budget.id, holder: runHolder(r.runId) })
          .first<{ amount_micros: number | string; override: boolean | number } | undefined>()
      : undefined;
    const room = Number(budget.amount_micros) - Number(counters.spent_micros) - Number(counters.reserved_micros) + Number(own?.amount_micros ?? 0);
    const amount = r.need(budget);
    const fits = Boolean(own?.override) || (room > 0 && amount <= room);
    if (!fits && !r.override) throw exceeded(budget, room, amount, r.what);
    const reserved = fits ? amount : 0;
    if (reserved === 0 && fits) continue;
    await db('budget_reservations').insert({
      budget_id: budget.id,
      holder: r.holder,
      window_key: counters.window_key,
      amount_micros: reserved,
      expires_at: isoAfter(r.expiresMs),
      override: !fits,
    });
    if (reserved) await addTo(db, counters, { reserved });
  }
}

/** Sends `budget.exhausted` for the budget a refusal named, once per window, in a transaction of its own (the refused one rolled back). */
export async function noteRefusal(db: Executor, err: unknown): Promise<void> {
  if (!(err instanceof ProblemError) || err.code !== 'budget-exceeded' || !err.extra.budgetId) return;
  const budgetId = err.extra.budgetId;
  await db.transaction(async (trx) => {
    const budget = await trx('budgets').where({ id: budgetId }).first<BudgetRow | undefined>();
    if (!budget) return;
    const counters = await lockWindow(trx, budget, new Date());
    await alert(trx, budget, counters, { exhausted: true });
  });
}

/**
 * Reserves a gateway call's estimated cost (an upper bound) in every budget that covers it, in a
 * transaction of its own that commits before the call goes out (given the request's transaction,
 * a queued job's: a savepoint that commits with the job); 402 when one has no room.
 */
export async function reserveCall(db: Executor, spender: Spender & { runId: string | null }, requestId: string, estimateMicros: number): Promise<void> {
  try {
    await db.transaction(async (trx) => {
      const budgets = await budgetsFor(trx, spender);
      if (budgets.length)
        await reserve(trx, budgets, {
          holder: callHolder(requestId),
          need: () => estimateMicros,
          what: 'this call reserves up to',
          expiresMs: CALL_RESERVATION_MS,
          runId: spender.runId ?? undefined,
        });
    });
  } catch (err) {
    await noteRefusal(db, err).catch(() => {});
    throw err;
  }
}

/**
 * Admits a new run: each budget that covers it must have room for its run reservation (or any
 * room, without one), which is reserved; with `override` (a person approved it), a budget without
 * room lets it past instead.
 */
export async function admitRun(db: Executor, budgets: BudgetRow[], runId: string, override = false): Promise<void> {
  await reserve(db, budgets, {
    holder: runHolder(runId),
    need: (b) => Number(b.run_reservation_micros),
    what: 'a new run reserves',
    expiresMs: RUN_RESERVATION_MS,
    override,
  });
}

/** Who spends for a run: its agent and end-user, and the key or person that started it. */
export const spenderOfRun = (row: {
  application_id: string;
  agent_id: string;
  end_user_id: string | null;
  created_by_key_id: string | null;
  created_by_user_id: string | null;
}): Spender => ({
  applicationId: row.application_id,
  agentId: row.agent_id,
  endUserId: row.end_user_id,
  keyId: row.created_by_key_id,
  userId: row.created_by_user_id,
});

/** The windows of the budgets usage will be counted in, locked before the usage is recorded (see `settleUsage`). */
export type LockedBudgets = { budget: BudgetRow; counters: WindowRow }[];

export async function lockBudgetsOf(db: Executor, spender: Spender): Promise<LockedBudgets> {
  const budgets = await budgetsFor(db, spender);
  const now = new Date();
  const locked: LockedBudgets = [];
  for (const budget of budgets) locked.push({ budget, counters: await lockWindow(db, budget, now) });
  return locked;
}

/** Lets go of a reservation: its window's reserved amount goes down by what is left of it. */
async function letGo(db: Executor, budgetId: string, holder: string): Promise<void> {
  const held = await db('budget_reservations')
    .where({ budget_id: budgetId, holder })
    .first<{ window_key: string; amount_micros: number | string } | undefined>();
  if (!held) return;
  await db('budget_reservations').where({ budget_id: budgetId, holder }).delete();
  await addTo(db, { budget_id: budgetId, window_key: held.window_key }, { reserved: -Number(held.amount_micros) });
}

/**
 * Counts recorded usage in the budgets locked for it: the call's reservation is let go, the cost is
 * spent in the current window, and a run's cost is taken out of what its run reserved first.
 * Sends `budget.threshold` for each threshold the spending passes, and `budget.exhausted`, once per
 * window each. A usage recorded twice (a repeated request id) only lets go of the reservation.
 */
export async function settleUsage(
  db: Executor,
  locked: LockedBudgets,
  usage: { requestId: string; runId: string | null; costMicros: number | null },
  recorded: boolean,
) {
  for (const { budget, counters } of locked) {
    await letGo(db, budget.id, callHolder(usage.requestId));
    if (!recorded) continue;
    const cost = usage.costMicros ?? 0;
    if (usage.runId && cost > 0) {
      const run = await db('budget_reservations')
        .where({ budget_id: budget.id, holder: runHolder(usage.runId) })
        .first<{ window_key: string; amount_micros: number | string } | undefined>();
      const drawn = Math.min(cost, Number(run?.amount_micros ?? 0));
      if (run && drawn > 0) {
        await db('budget_reservations')
          .where({ budget_id: budget.id, holder: runHolder(usage.runId) })
          .update({ amount_micros: Number(run.amount_micros) - drawn });
        await addTo(db, { budget_id: budget.id, window_key: run.window_key }, { reserved: -drawn });
      }
    }
    if (cost > 0) await addTo(db, counters, { spent: cost });
    const [now] = await selectRows<WindowRow>(db, 'select * from budget_windows where budget_id = ? and window_key = ?', [budget.id, counters.window_key]);
    await alert(db, budget, now!, {});
  }
}

async function release(db: Executor, holder: string): Promise<void> {
  const held = await db('budget_reservations').where({ holder }).orderBy('budget_id').pluck<string[]>('budget_id');
  for (const budgetId of held) await letGo(db, budgetId, holder);
}

/** A call that will not be made (a transcription cancelled before it ran) lets go of what it reserved. */
export const releaseCall = (db: Executor, requestId: string) => release(db, callHolder(requestId));

/** A run that ended lets go of what it reserved. */
export const releaseRun = (db: Executor, runId: string) => release(db, runHolder(runId));

/** Lets go of the reservations whose holder never came back (a replica that died mid-call); returns how many. */
export async function expireReservations(db: Db): Promise<number> {
  const stale = await db('budget_reservations').where('expires_at', '<=', nowIso()).select<{ budget_id: string; holder: string }[]>('budget_id', 'holder');
  for (const { budget_id, holder } of stale) await db.transaction((trx) => letGo(trx, budget_id, holder));
  return stale.length;
}

/** Sends the window's alerts that are due and not sent yet: thresholds passed, and exhaustion (reached, or `exhausted` forced by a refusal). */
async function alert(db: Executor, budget: BudgetRow, counters: WindowRow, options: { exhausted?: boolean }) {
  const amount = Number(budget.amount_micros);
  const spent = Number(counters.spent_micros);
  const reserved = Number(counters.reserved_micros);
  const percent = Math.floor((spent * 100) / amount);
  const due = thresholdsOf(budget).filter((t) => t > counters.threshold_percent && t <= percent);
  const exhausted = !counters.exhausted && (options.exhausted === true || spent >= amount);
  if (!due.length && !exhausted) return;
  const span = windowAt(budget.window, new Date());
  const view = toBudget(budget, { spent, reserved }, span);
  for (const threshold of due) await recordEvent(db, budget.application_id, 'budget.threshold', { object: 'budget_alert', percent: threshold, budget: view });
  if (exhausted) await recordEvent(db, budget.application_id, 'budget.exhausted', { object: 'budget_alert', percent: 100, budget: view });
  await db('budget_windows')
    .where({ budget_id: budget.id, window_key: counters.window_key })
    .update({ threshold_percent: Math.max(counters.threshold_percent, ...due), exhausted: Boolean(counters.exhausted) || exhausted });
}
