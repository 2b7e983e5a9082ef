import type { Executor } from '../../db/database.js';
import type { components } from '../../generated/openapi.js';
import { withStatus, type BudgetRow } from '../budgets/store.js';
import { costReport } from '../costs/report.js';
import { onlineWindowMs } from '../runs/dispatch.js';

type Dashboard = components['schemas']['Dashboard'];

const DAY_MS = 86_400_000;
const TOP_BUDGETS = 20;

/** `select key, count(*)` of a grouped query, as counts for each of `keys` (0 for the absent). */
async function countsBy<K extends string>(query: Promise<{ key: K; n: number | string }[]>, keys: readonly K[]): Promise<Record<K, number>> {
  const rows = await query;
  const counts = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  for (const row of rows) if (keys.includes(row.key)) counts[row.key] = Number(row.n);
  return counts;
}

const count = async (query: Promise<{ n: number | string } | undefined>) => Number((await query)?.n ?? 0);

/** Budgets by how much of them is used (spent and reserved, against the amount), the most used first. */
const used = (b: Dashboard['costs']['budgets'][number]) => (b.status.spentMicros + b.status.reservedMicros) / b.amountMicros;

/** The application's front-page numbers, each read from the table its list operation reads. */
export async function dashboardOf(db: Executor, applicationId: string, leaseSeconds: number): Promise<Dashboard> {
  const now = new Date();
  const since = new Date(now.getTime() - DAY_MS).toISOString();
  const app = { application_id: applicationId };
  const [active, created, finished, costs, budgetRows, pending, tasks, failing, disabled, runners, online] = await Promise.all([
    countsBy(
      db('runs')
        .where(app)
        .whereIn('status', ['queued', 'running', 'waiting'])
        .groupBy('status')
        .select<{ key: 'queued' | 'running' | 'waiting'; n: number }[]>('status as key', db.raw('count(*) as n')),
      ['queued', 'running', 'waiting'] as const,
    ),
    count(db('runs').where(app).where('created_at', '>=', since).first<{ n: number } | undefined>(db.raw('count(*) as n'))),
    countsBy(
      db('runs')
        .where(app)
        .where('finished_at', '>=', since)
        .groupBy('status')
        .select<{ key: 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'expired'; n: number }[]>('status as key', db.raw('count(*) as n')),
      ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'] as const,
    ),
    costReport(db, applicationId, {}),
    db('budgets').where(app).select<BudgetRow[]>('*'),
    db('approvals')
      .where(app)
      .where('status', 'pending')
      .first<{ n: number | string; oldest: string | null } | undefined>(db.raw('count(*) as n'), db.raw('min(created_at) as oldest')),
    countsBy(
      db('tasks')
        .where(app)
        .groupBy('status')
        .select<{ key: Dashboard['tasks'] extends Record<infer K, number> ? K : never; n: number }[]>('status as key', db.raw('count(*) as n')),
      ['backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled'] as const,
    ),
    count(
      db('webhook_endpoints').where(app).whereNull('disabled_reason').whereNotNull('failing_since').first<{ n: number } | undefined>(db.raw('count(*) as n')),
    ),
    count(db('webhook_endpoints').where(app).whereNotNull('disabled_reason').first<{ n: number } | undefined>(db.raw('count(*) as n'))),
    count(db('runners').where(app).first<{ n: number } | undefined>(db.raw('count(*) as n'))),
    count(
      db('runners')
        .where(app)
        .where('last_seen_at', '>=', new Date(now.getTime() - onlineWindowMs(leaseSeconds)).toISOString())
        .first<{ n: number } | undefined>(db.raw('count(*) as n')),
    ),
  ]);
  const budgets = (await Promise.all(budgetRows.map((row) => withStatus(db, row, now)))).sort((a, b) => used(b) - used(a) || a.id.localeCompare(b.id));
  return {
    object: 'dashboard',
    generatedAt: now.toISOString(),
    runs: { now: active, last24Hours: { created, ...finished } },
    costs: { monthToDate: costs.totals, budgets: budgets.slice(0, TOP_BUDGETS) },
    approvals: { pending: Number(pending?.n ?? 0), oldestPendingAt: pending?.oldest ?? null },
    tasks,
    webhooks: { failing, disabled },
    runners: { online, total: runners },
  };
}
