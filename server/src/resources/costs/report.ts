import type { Knex } from 'knex';
import type { Executor } from '../../db/database.js';
import type { components } from '../../generated/openapi.js';
import { ProblemError } from '../../problems/problems.js';

export type CostGroupBy = components['schemas']['CostGroupBy'];
export type CostTotals = components['schemas']['CostTotals'];
export type CostGroup = components['schemas']['CostGroup'];
export type CostReport = components['schemas']['CostReport'];

const MAX_RANGE_MS = 366 * 86_400_000;

/** The ledger's column (or expression) each grouping reads; a day is the UTC date of `created_at`. */
const GROUP_KEYS: Record<CostGroupBy, string> = {
  agent: 'agent_id',
  model: 'alias',
  day: 'substr(created_at, 1, 10)',
  endUser: 'end_user_id',
  apiKey: 'key_id',
  user: 'user_id',
  project: 'project_id',
  goal: 'goal_id',
  source: 'source',
};

export type CostRange = { from: string; to: string };
export type CostFilters = { agentId?: string; endUserId?: string };

/** The range a report covers: `from` and `to` as given, or this UTC month until now; 422 when backwards or longer than 366 days. */
export function rangeOf(from: string | undefined, to: string | undefined, where: 'query' | 'body', now = new Date()): CostRange {
  const end = to ? new Date(to) : now;
  const start = from ? new Date(from) : new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), 1));
  const invalid = (detail: string, field: 'from' | 'to') =>
    new ProblemError('validation-error', detail, {
      errors: [where === 'query' ? { parameter: field, in: where, detail } : { pointer: `/${field}`, in: where, detail }],
    });
  if (start.getTime() >= end.getTime()) throw invalid(`The range is empty: from (${start.toISOString()}) must be before to (${end.toISOString()}).`, 'from');
  if (end.getTime() - start.getTime() > MAX_RANGE_MS) throw invalid('The range is longer than 366 days: report a year at most at a time.', 'to');
  return { from: start.toISOString(), to: end.toISOString() };
}

const SUMS = [
  'coalesce(sum(cost_micros), 0) as cost_micros',
  'count(*) as requests',
  "coalesce(sum(case when pricing_status = 'priced' then 0 else 1 end), 0) as unpriced",
  'coalesce(sum(input_tokens), 0) as input_tokens',
  'coalesce(sum(output_tokens), 0) as output_tokens',
];

type SumsRow = {
  cost_micros: number | string;
  requests: number | string;
  unpriced: number | string;
  input_tokens: number | string;
  output_tokens: number | string;
};

const totalsOf = (row: SumsRow | undefined): CostTotals => ({
  costMicros: Number(row?.cost_micros ?? 0),
  requests: Number(row?.requests ?? 0),
  unpricedRequests: Number(row?.unpriced ?? 0),
  inputTokens: Number(row?.input_tokens ?? 0),
  outputTokens: Number(row?.output_tokens ?? 0),
});

/** The application's ledger entries in the range, narrowed by the filters; `before`: recorded before this time too. */
export function ledgerIn(db: Executor, applicationId: string, range: CostRange, filters: CostFilters = {}, before?: string): Knex.QueryBuilder {
  const query = db('usage_events').where('application_id', applicationId).where('created_at', '>=', range.from).where('created_at', '<', range.to);
  if (before) query.where('created_at', '<', before);
  if (filters.agentId) query.where('agent_id', filters.agentId);
  if (filters.endUserId) query.where('end_user_id', filters.endUserId);
  return query;
}

/** The sums per group, costliest first (days oldest first); all of them when `limit` is undefined. */
export async function groupsOf(ledger: Knex.QueryBuilder, db: Executor, groupBy: CostGroupBy, limit?: number): Promise<CostGroup[]> {
  const key = GROUP_KEYS[groupBy];
  const query = ledger
    .clone()
    .select(db.raw(`${key} as group_key`), ...SUMS.map((s) => db.raw(s)))
    .groupByRaw(key);
  if (groupBy === 'day') query.orderByRaw(`${key} asc`);
  else query.orderByRaw(`coalesce(sum(cost_micros), 0) desc, ${key} asc`);
  if (limit !== undefined) query.limit(limit);
  const rows = (await query) as (SumsRow & { group_key: string | null })[];
  return rows.map((row) => ({ key: row.group_key, ...totalsOf(row) }));
}

export async function costReport(
  db: Executor,
  applicationId: string,
  query: CostFilters & { from?: string; to?: string; groupBy?: CostGroupBy; limit?: number },
): Promise<CostReport> {
  const range = rangeOf(query.from, query.to, 'query');
  const ledger = ledgerIn(db, applicationId, range, query);
  const totals = totalsOf(await ledger.clone().first<SumsRow | undefined>(...SUMS.map((s) => db.raw(s))));
  const limit = query.limit ?? 100;
  const groups = query.groupBy ? await groupsOf(ledger, db, query.groupBy, limit + 1) : [];
  return { object: 'cost_report', ...range, groupBy: query.groupBy ?? null, totals, groups: groups.slice(0, limit), hasMore: groups.length > limit };
}
