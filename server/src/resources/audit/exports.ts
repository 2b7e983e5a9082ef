import type { Db, Executor } from '../../db/database.js';
import type { components } from '../../generated/openapi.js';
import { notFound } from '../../problems/problems.js';
import { csvField, findExport, insertExport, numberOrNull, type ExportFormat, type ExportRow, type ExportSource } from '../../exports/files.js';
import type { AuditChainer } from './chainer.js';
import { AUDIT_COLUMNS, matchingEvents, toAuditEvent, type AuditRow } from './store.js';
import { chainState } from './verify.js';

/** Events read per query while writing. */
const BATCH = 1000;

export type ExportFilters = components['schemas']['AuditExportFilters'];

export function toAuditExport(row: ExportRow) {
  return {
    id: row.id,
    object: 'audit_export' as const,
    organizationId: row.organization_id,
    status: row.status,
    format: row.format,
    filters: JSON.parse(row.filters) as ExportFilters,
    throughPosition: numberOrNull(row.through_position),
    rowCount: numberOrNull(row.row_count),
    bytes: numberOrNull(row.bytes),
    sha256: row.sha256,
    error: row.error,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

export const insertAuditExport = (db: Executor, organizationId: string, format: ExportFormat, filters: ExportFilters) =>
  insertExport(db, 'audexp', { kind: 'audit', organization_id: organizationId, application_id: null, format, filters });

export async function getExportRow(db: Executor, organizationId: string, id: string): Promise<ExportRow> {
  const row = await findExport(db, 'audit', id, { organization_id: organizationId });
  if (!row) throw notFound('audit export', id);
  return row;
}

const CSV_COLUMNS = [
  'id',
  'position',
  'created_at',
  'organization_id',
  'application_id',
  'action',
  'outcome',
  'status',
  'actor_type',
  'actor_id',
  'actor_user_id',
  'end_user_id',
  'resource_type',
  'resource_id',
  'run_id',
  'request_id',
  'operation_id',
  'method',
  'path',
  'idempotency_key',
  'api_version',
  'ip',
  'user_agent',
  'before',
  'after',
  'prev_hash',
  'hash',
] as const satisfies readonly (keyof AuditRow)[];

const lineOf = (format: ExportFormat, row: AuditRow) =>
  format === 'ndjson' ? `${JSON.stringify(toAuditEvent(row))}\n` : `${CSV_COLUMNS.map((c) => csvField(row[c])).join(',')}\r\n`;

/**
 * The matching events up to the chain's head when the export starts, oldest first; everything
 * committed before the export was asked for is chained before it is read.
 */
export function auditExportSource(db: Db, chainer: AuditChainer) {
  return async (job: ExportRow): Promise<ExportSource> => {
    await chainer.catchUp();
    const filters = JSON.parse(job.filters) as ExportFilters;
    const through = (await chainState(db, job.organization_id)).position;
    async function* lines() {
      if (job.format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
      for (let after = 0; ;) {
        const batch = await matchingEvents(db, job.organization_id, filters)
          .where('position', '>', after)
          .where('position', '<=', through)
          .orderBy('position')
          .limit(BATCH)
          .select<AuditRow[]>(AUDIT_COLUMNS);
        for (const row of batch) yield lineOf(job.format, row);
        if (batch.length < BATCH) return;
        after = Number(batch[batch.length - 1]!.position);
      }
    }
    return { lines: lines(), finished: { through_position: through } };
  };
}
