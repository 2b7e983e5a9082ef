import type { Db, Executor } from '../../db/database.js';
import { csvField, findExport, insertExport, numberOrNull, type ExportFormat, type ExportRow, type ExportSource } from '../../exports/files.js';
import { notFound } from '../../problems/problems.js';
import type { components } from '../../generated/openapi.js';
import { toUsageEvent, type UsageRow } from '../usage/store.js';
import { groupsOf, ledgerIn, type CostGroupBy, type CostRange } from './report.js';

/** Ledger entries read per query while writing. */
const BATCH = 1000;

type CostExport = components['schemas']['CostExport'];
type CostQuery = CostRange & { groupBy: CostGroupBy | null };

export const toCostExport = (row: ExportRow): CostExport => {
  const query = JSON.parse(row.filters) as CostQuery;
  return {
    id: row.id,
    object: 'cost_export',
    applicationId: row.application_id!,
    status: row.status,
    format: row.format,
    from: query.from,
    to: query.to,
    groupBy: query.groupBy,
    rowCount: numberOrNull(row.row_count),
    bytes: numberOrNull(row.bytes),
    sha256: row.sha256,
    error: row.error,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
};

export const insertCostExport = (db: Executor, owner: { organizationId: string; applicationId: string }, format: ExportFormat, query: CostQuery) =>
  insertExport(db, 'costexp', { kind: 'costs', organization_id: owner.organizationId, application_id: owner.applicationId, format, filters: query });

export async function getCostExportRow(db: Executor, applicationId: string, id: string): Promise<ExportRow> {
  const row = await findExport(db, 'costs', id, { application_id: applicationId });
  if (!row) throw notFound('cost export', id);
  return row;
}

/** A spreadsheet reads a cell starting with one of these as a formula: such a cell is written as text. */
const FORMULA_START = /^[=+\-@\t\r]/;
const cell = (value: string | number | null) => csvField(typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value);

const EVENT_COLUMNS = [
  'id',
  'createdAt',
  'source',
  'requestId',
  'model',
  'provider',
  'agentId',
  'agentVersion',
  'runId',
  'threadId',
  'taskId',
  'projectId',
  'goalId',
  'endUserId',
  'apiKeyId',
  'userId',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'audioSeconds',
  'costMicros',
  'pricingStatus',
] as const;
const GROUP_COLUMNS = ['key', 'costMicros', 'requests', 'unpricedRequests', 'inputTokens', 'outputTokens'] as const;

const line = <T extends object>(format: ExportFormat, columns: readonly (keyof T)[], value: T) =>
  format === 'ndjson' ? `${JSON.stringify(value)}\n` : `${columns.map((c) => cell(value[c] as string | number | null)).join(',')}\r\n`;

/**
 * The usage recorded in the range before the export was asked for (so the file does not change
 * with when it is written): every entry, oldest first, or every group of the report.
 */
export function costExportSource(db: Db) {
  return (job: ExportRow): Promise<ExportSource> => {
    const query = JSON.parse(job.filters) as CostQuery;
    const ledger = () => ledgerIn(db, job.application_id!, query, {}, job.created_at);
    async function* lines() {
      if (query.groupBy) {
        if (job.format === 'csv') yield `${GROUP_COLUMNS.join(',')}\r\n`;
        for (const group of await groupsOf(ledger(), db, query.groupBy)) yield line(job.format, GROUP_COLUMNS, group);
        return;
      }
      if (job.format === 'csv') yield `${EVENT_COLUMNS.join(',')}\r\n`;
      for (let after: { createdAt: string; id: string } | undefined; ;) {
        const page = ledger()
          .orderBy([{ column: 'created_at' }, { column: 'id' }])
          .limit(BATCH);
        if (after) {
          const { createdAt, id } = after;
          page.where((q) => {
            q.where('created_at', '>', createdAt).orWhere((same) => {
              same.where('created_at', createdAt).where('id', '>', id);
            });
          });
        }
        const batch = (await page.select('*')) as UsageRow[];
        for (const row of batch) yield line(job.format, EVENT_COLUMNS, toUsageEvent(row));
        if (batch.length < BATCH) return;
        const last = batch[batch.length - 1]!;
        after = { createdAt: last.created_at, id: last.id };
      }
    }
    return Promise.resolve({ lines: lines() });
  };
}
