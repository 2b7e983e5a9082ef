import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Db, Executor } from '../../db/database.js';
import type { components } from '../../generated/openapi.js';
import { notFound } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { isoAfter, nowIso } from '../../util/time.js';
import { AUDIT_COLUMNS, matchingEvents, toAuditEvent, type AuditRow } from './store.js';
import { chainState } from './verify.js';

/** How long a written file stays downloadable. */
const KEPT_MS = 24 * 3_600_000;
/** Events read per query while writing. */
const BATCH = 1000;
/** Text per stored part, before compression: the writer and a download hold one part at a time. */
const PART_CHARS = 1 << 20;

export type ExportFormat = 'ndjson' | 'csv';
export type ExportFilters = components['schemas']['AuditExportFilters'];

export type ExportRow = {
  id: string;
  organization_id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'expired';
  format: ExportFormat;
  filters: string;
  through_position: number | string | null;
  row_count: number | string | null;
  bytes: number | string | null;
  sha256: string | null;
  error: string | null;
  claim_expires_at: string | null;
  expires_at: string | null;
  created_at: string;
  completed_at: string | null;
};

const numberOrNull = (value: number | string | null) => (value === null ? null : Number(value));

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

export async function insertExport(db: Executor, organizationId: string, format: ExportFormat, filters: ExportFilters): Promise<ExportRow> {
  const row: ExportRow = {
    id: newId('audexp'),
    organization_id: organizationId,
    status: 'queued',
    format,
    filters: JSON.stringify(filters),
    through_position: null,
    row_count: null,
    bytes: null,
    sha256: null,
    error: null,
    claim_expires_at: null,
    expires_at: null,
    created_at: nowIso(),
    completed_at: null,
  };
  await db('audit_exports').insert(row);
  return row;
}

export async function getExportRow(db: Executor, organizationId: string, id: string): Promise<ExportRow> {
  const row = await db('audit_exports').where({ id, organization_id: organizationId }).first<ExportRow | undefined>();
  if (!row) throw notFound('audit export', id);
  return row;
}

/**
 * Takes up to `count` exports to write: queued ones, or running ones whose writer's claim ran out
 * (it stopped). The claim's expiry is the writer's token: a write continues only while it is
 * still the one it set, so a writer that lost its claim stops at its next step.
 */
export async function claimExports(db: Db, count: number, claimMs: number): Promise<ExportRow[]> {
  const now = nowIso();
  const candidates = await db('audit_exports')
    .where('status', 'queued')
    .orWhere((q) => {
      q.where('status', 'running').where('claim_expires_at', '<', now);
    })
    .orderBy('created_at')
    .limit(count)
    .select<ExportRow[]>('*');
  const claimed: ExportRow[] = [];
  for (const candidate of candidates) {
    const claim = isoAfter(claimMs);
    const taken = await db.transaction(async (trx) => {
      const updated = await trx('audit_exports')
        .where({ id: candidate.id, status: candidate.status })
        .where((q) => {
          if (candidate.claim_expires_at) q.where('claim_expires_at', candidate.claim_expires_at);
          else q.whereNull('claim_expires_at');
        })
        .update({ status: 'running', claim_expires_at: claim });
      // What an earlier writer left is written again from the start.
      if (updated) await trx('audit_export_parts').where({ export_id: candidate.id }).delete();
      return updated > 0;
    });
    if (taken) claimed.push({ ...candidate, status: 'running', claim_expires_at: claim });
  }
  return claimed;
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

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
const csvField = (value: string | number | null) => {
  const text = value === null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

const lineOf = (format: ExportFormat, row: AuditRow) =>
  format === 'ndjson' ? `${JSON.stringify(toAuditEvent(row))}\n` : `${CSV_COLUMNS.map((c) => csvField(row[c])).join(',')}\r\n`;

/**
 * Writes the export's file: the matching events up to the chain's head when it starts, oldest
 * first, in gzip parts of about a megabyte of text, hashing exactly the bytes a download returns.
 * Each part extends the claim; a writer that lost it (another took the export over) stops. A
 * failure marks the export failed (with why) and is thrown on, for the log.
 */
export async function writeExport(db: Db, job: ExportRow, claimMs: number): Promise<void> {
  const claim = { current: job.claim_expires_at! };
  try {
    await produce(db, job, claimMs, claim);
  } catch (err) {
    if (err instanceof ExportLetGo) return;
    await failExport(db, job.id, claim.current, err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function produce(db: Db, job: ExportRow, claimMs: number, claim: { current: string }): Promise<void> {
  const filters = JSON.parse(job.filters) as ExportFilters;
  const through = (await chainState(db, job.organization_id)).position;
  const hash = createHash('sha256');
  let rows = 0;
  let bytes = 0;
  let part = 0;
  let pending: string[] = [];
  let pendingChars = 0;

  const add = (text: string) => {
    hash.update(text);
    bytes += Buffer.byteLength(text);
    pending.push(text);
    pendingChars += text.length;
  };
  const flush = async () => {
    if (!pendingChars) return;
    const data = gzipSync(pending.join(''));
    pending = [];
    pendingChars = 0;
    const next = isoAfter(claimMs);
    await db.transaction(async (trx) => {
      const held = await trx('audit_exports').where({ id: job.id, status: 'running', claim_expires_at: claim.current }).update({ claim_expires_at: next });
      if (!held) throw new ExportLetGo();
      await trx('audit_export_parts').insert({ export_id: job.id, part: part++, data });
    });
    claim.current = next;
  };

  if (job.format === 'csv') add(`${CSV_COLUMNS.join(',')}\r\n`);
  for (let after = 0; ;) {
    const batch = await matchingEvents(db, job.organization_id, filters)
      .where('position', '>', after)
      .where('position', '<=', through)
      .orderBy('position')
      .limit(BATCH)
      .select<AuditRow[]>(AUDIT_COLUMNS);
    for (const row of batch) {
      add(lineOf(job.format, row));
      rows++;
      if (pendingChars >= PART_CHARS) await flush();
    }
    if (batch.length < BATCH) break;
    after = Number(batch[batch.length - 1]!.position);
  }
  await flush();
  const now = nowIso();
  await db('audit_exports')
    .where({ id: job.id, status: 'running', claim_expires_at: claim.current })
    .update({
      status: 'succeeded',
      through_position: through,
      row_count: rows,
      bytes,
      sha256: hash.digest('hex'),
      claim_expires_at: null,
      expires_at: isoAfter(KEPT_MS),
      completed_at: now,
    });
}

/** Thrown by a writer whose claim was taken over: it stops, and leaves the export to the new one. */
export class ExportLetGo extends Error {}

/** Marks a write that failed; only while the writer still holds the claim. */
async function failExport(db: Db, id: string, claim: string, error: string): Promise<void> {
  await db.transaction(async (trx) => {
    const held = await trx('audit_exports')
      .where({ id, status: 'running', claim_expires_at: claim })
      .update({ status: 'failed', error: error.replace(/\p{Cc}/gu, ' ').slice(0, 500), claim_expires_at: null, completed_at: nowIso() });
    if (held) await trx('audit_export_parts').where({ export_id: id }).delete();
  });
}

/** The file of a succeeded export, part after part, each decompressed as it is sent. */
export function exportContent(db: Db, exportId: string): Readable {
  let part = 0;
  const next = async (stream: Readable) => {
    try {
      const row = await db('audit_export_parts').where({ export_id: exportId, part }).first<{ data: Buffer } | undefined>('data');
      part++;
      stream.push(row ? gunzipSync(row.data) : null);
    } catch (err) {
      stream.destroy(err as Error);
    }
  };
  return new Readable({
    read() {
      void next(this);
    },
  });
}

/** Deletes the files of exports past their expiry; their records stay, `expired`. Returns how many. */
export async function expireExports(db: Db): Promise<number> {
  const ids = await db('audit_exports').where('status', 'succeeded').where('expires_at', '<=', nowIso()).pluck<string[]>('id');
  for (const id of ids) {
    await db.transaction(async (trx) => {
      await trx('audit_export_parts').where({ export_id: id }).delete();
      await trx('audit_exports').where({ id }).update({ status: 'expired' });
    });
  }
  return ids.length;
}

const queued = new Set<() => void>();

/** The exporters of this process hear at once of an export queued here, instead of at their next poll. */
export function onExportQueued(listener: () => void): () => void {
  queued.add(listener);
  return () => queued.delete(listener);
}

export function wakeExporters(): void {
  for (const listener of queued) listener();
}
