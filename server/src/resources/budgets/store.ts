import type { Knex } from 'knex';
import type { Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import type { components } from '../../generated/openapi.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { windowAt, type BudgetWindow, type WindowSpan } from './windows.js';

export type Budget = components['schemas']['Budget'];
export type BudgetScope = components['schemas']['BudgetScope'];
export type BudgetExhaustedPolicy = components['schemas']['BudgetExhaustedPolicy'];

export type BudgetRow = {
  id: string;
  application_id: string;
  name: string;
  scope_type: BudgetScope['type'];
  scope_id: string | null;
  window: BudgetWindow;
  amount_micros: number | string;
  thresholds: string;
  run_reservation_micros: number | string;
  on_exhausted: BudgetExhaustedPolicy;
  created_at: string;
  updated_at: string;
};

/** A budget's counters in one window: priced usage recorded in it, what is reserved, and which alerts were sent. */
export type WindowRow = {
  budget_id: string;
  window_key: string;
  spent_micros: number | string;
  reserved_micros: number | string;
  threshold_percent: number;
  exhausted: boolean | number;
};

export const DEFAULT_THRESHOLDS = [80];

export const thresholdsOf = (row: BudgetRow): number[] => fromJsonColumn<number[]>(row.thresholds, DEFAULT_THRESHOLDS);

/** The ledger's column that names what a budget of this scope caps. */
const SCOPE_COLUMNS: Record<BudgetScope['type'], string | null> = {
  application: null,
  agent: 'agent_id',
  end_user: 'end_user_id',
  api_key: 'key_id',
  user: 'user_id',
};

/** The application's ledger entries a budget counts, within a window's bounds. */
export function ledgerOf(db: Executor, budget: BudgetRow, span: WindowSpan): Knex.QueryBuilder {
  const query = db('usage_events').where('application_id', budget.application_id);
  const column = SCOPE_COLUMNS[budget.scope_type];
  if (column) query.where(column, budget.scope_id);
  if (span.start) query.where('created_at', '>=', span.start);
  if (span.end) query.where('created_at', '<', span.end);
  return query;
}

/** What the budget's scope spent in the window, from the ledger (priced usage only). */
export async function spentInLedger(db: Executor, budget: BudgetRow, span: WindowSpan): Promise<number> {
  const row = await ledgerOf(db, budget, span).first<{ spent: number | string | null }>(db.raw('coalesce(sum(cost_micros), 0) as spent'));
  return Number(row.spent ?? 0);
}

export function toBudget(row: BudgetRow, counters: { spent: number; reserved: number }, span: WindowSpan): Budget {
  const amount = Number(row.amount_micros);
  const thresholds = thresholdsOf(row);
  const remaining = Math.max(0, amount - counters.spent - counters.reserved);
  const lowest = Math.min(...thresholds, 100);
  const state = remaining === 0 ? 'exhausted' : counters.spent * 100 >= lowest * amount ? 'warning' : 'ok';
  return {
    id: row.id,
    object: 'budget',
    applicationId: row.application_id,
    name: row.name,
    scope: { type: row.scope_type, id: row.scope_id },
    window: row.window,
    amountMicros: amount,
    thresholds,
    runReservationMicros: Number(row.run_reservation_micros),
    onExhausted: row.on_exhausted,
    status: { windowStart: span.start, windowEnd: span.end, spentMicros: counters.spent, reservedMicros: counters.reserved, remainingMicros: remaining, state },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A budget as it stands now: its current window's counters, or (no call touched it yet) the ledger's sum. */
export async function withStatus(db: Executor, row: BudgetRow, now = new Date()): Promise<Budget> {
  const span = windowAt(row.window, now);
  const counters = await db('budget_windows').where({ budget_id: row.id, window_key: span.key }).first<WindowRow | undefined>();
  if (counters) return toBudget(row, { spent: Number(counters.spent_micros), reserved: Number(counters.reserved_micros) }, span);
  return toBudget(row, { spent: await spentInLedger(db, row, span), reserved: 0 }, span);
}

export const getBudgetRow = (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  getRow<BudgetRow>(db, 'budgets', { id, application_id: applicationId }, 'budget', options);

export async function listBudgets(db: Executor, applicationId: string, query: PageQuery & { scopeType?: BudgetScope['type']; scopeId?: string }) {
  const rows = db('budgets').where('application_id', applicationId);
  if (query.scopeType) rows.where('scope_type', query.scopeType);
  if (query.scopeId) rows.where('scope_id', query.scopeId);
  const page = await listPage<BudgetRow, BudgetRow>(rows.select('*'), query, { createdAt: 'created_at' }, (row) => row);
  const now = new Date();
  return { ...page, data: await Promise.all(page.data.map((row) => withStatus(db, row, now))) };
}

export type BudgetFields = {
  name: string;
  scope: BudgetScope;
  window: BudgetWindow;
  amountMicros: number;
  thresholds: number[];
  runReservationMicros: number;
  onExhausted: BudgetExhaustedPolicy;
};

export async function insertBudget(db: Executor, applicationId: string, fields: BudgetFields): Promise<BudgetRow> {
  const now = nowIso();
  const row: BudgetRow = {
    id: newId('bdg'),
    application_id: applicationId,
    name: fields.name,
    scope_type: fields.scope.type,
    scope_id: fields.scope.id,
    window: fields.window,
    amount_micros: fields.amountMicros,
    thresholds: toJsonColumn([...fields.thresholds].sort((a, b) => a - b)),
    run_reservation_micros: fields.runReservationMicros,
    on_exhausted: fields.onExhausted,
    created_at: now,
    updated_at: now,
  };
  await db('budgets').insert(row);
  return row;
}

export async function updateBudget(
  db: Executor,
  row: BudgetRow,
  changes: Partial<Pick<BudgetFields, 'name' | 'amountMicros' | 'thresholds' | 'runReservationMicros' | 'onExhausted'>>,
) {
  const next: BudgetRow = {
    ...row,
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.amountMicros !== undefined ? { amount_micros: changes.amountMicros } : {}),
    ...(changes.thresholds !== undefined ? { thresholds: toJsonColumn([...changes.thresholds].sort((a, b) => a - b)) } : {}),
    ...(changes.runReservationMicros !== undefined ? { run_reservation_micros: changes.runReservationMicros } : {}),
    ...(changes.onExhausted !== undefined ? { on_exhausted: changes.onExhausted } : {}),
    updated_at: nowIso(),
  };
  await db('budgets').where({ id: row.id }).update(next);
  return next;
}
