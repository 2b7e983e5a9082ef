import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Db, Executor } from '../db/database.js';
import { ProblemError } from '../problems/problems.js';
import { newId, type IdPrefix } from '../util/ids.js';
import { isoAfter, nowIso } from '../util/time.js';

/** How long a written file stays downloadable. */
const KEPT_MS = 24 * 3_600_000;
/** Text per stored part, before compression: the writer and a download hold one part at a time. */
const PART_CHARS = 1 << 20;

/** What an export holds: the audit log of an organization, or an application's usage. */
export type ExportKind = 'audit' | 'costs';
export type ExportFormat = 'ndjson' | 'csv';

/** An export job and its file's facts; `filters` is the kind's own query (JSON). */
export type ExportRow = {
  id: string;
  kind: ExportKind;
  organization_id: string;
  application_id: string | null;
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

/** The file's lines, in order, and the columns to record once they are all written. */
export type ExportSource = { lines: AsyncIterable<string>; finished?: Partial<Pick<ExportRow, 'through_position'>> };

export const numberOrNull = (value: number | string | null) => (value === null ? null : Number(value));

export const CONTENT_TYPES: Record<ExportFormat, string> = { ndjson: 'application/x-ndjson', csv: 'text/csv; charset=utf-8' };

export async function insertExport(
  db: Executor,
  prefix: Extract<IdPrefix, 'audexp' | 'costexp'>,
  fields: Pick<ExportRow, 'kind' | 'organization_id' | 'application_id' | 'format'> & { filters: unknown },
): Promise<ExportRow> {
  const row: ExportRow = {
    id: newId(prefix),
    ...fields,
    status: 'queued',
    filters: JSON.stringify(fields.filters),
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
  await db('file_exports').insert(row);
  return row;
}

/** The export of this kind with this id in the tenant `where` names, or undefined. */
export const findExport = (db: Executor, kind: ExportKind, id: string, where: { organization_id: string } | { application_id: string }) =>
  db('file_exports')
    .where({ id, kind, ...where })
    .first<ExportRow | undefined>();

/**
 * The answer of a download: the export's file, streamed, named `<name>-<id>.<format>`; 409 unless
 * it succeeded and its file is still kept.
 */
export function downloadOf(db: Db, row: ExportRow, what: string, name: string) {
  if (row.status !== 'succeeded') {
    const why = row.status === 'expired' ? `its file was deleted at ${row.expires_at}: export again` : 'its file is not written';
    throw new ProblemError('invalid-transition', `${what} ${row.id} is ${row.status}: ${why}.`);
  }
  return {
    status: 200 as const,
    body: '',
    contentType: CONTENT_TYPES[row.format],
    stream: exportContent(db, row.id),
    headers: { 'Content-Disposition': `attachment; filename="${name}-${row.id}.${row.format}"` },
  };
}

/**
 * Takes up to `count` exports to write: queued ones, or running ones whose writer's claim ran out
 * (it stopped). The claim's expiry is the writer's token: a write continues only while it is
 * still the one it set, so a writer that lost its claim stops at its next step.
 */
export async function claimExports(db: Db, count: number, claimMs: number): Promise<ExportRow[]> {
  const now = nowIso();
  const candidates = await db('file_exports')
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
      const updated = await trx('file_exports')
        .where({ id: candidate.id, status: candidate.status })
        .where((q) => {
          if (candidate.claim_expires_at) q.where('claim_expires_at', candidate.claim_expires_at);
          else q.whereNull('claim_expires_at');
        })
        .update({ status: 'running', claim_expires_at: claim });
      // What an earlier writer left is written again from the start.
      if (updated) await trx('file_export_parts').where({ export_id: candidate.id }).delete();
      return updated > 0;
    });
    if (taken) claimed.push({ ...candidate, status: 'running', claim_expires_at: claim });
  }
  return claimed;
}

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
export const csvField = (value: string | number | boolean | null) => {
  const text = value === null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/**
 * Writes the export's file from its source's lines, in gzip parts of about a megabyte of text,
 * hashing exactly the bytes a download returns. Each part extends the claim; a writer that lost
 * it (another took the export over) stops. A failure marks the export failed (with why) and is
 * thrown on, for the log.
 */
export async function writeExport(db: Db, job: ExportRow, claimMs: number, source: () => Promise<ExportSource>): Promise<void> {
  const claim = { current: job.claim_expires_at! };
  try {
    await produce(db, job, claimMs, claim, await source());
  } catch (err) {
    if (err instanceof ExportLetGo) return;
    await failExport(db, job.id, claim.current, err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function produce(db: Db, job: ExportRow, claimMs: number, claim: { current: string }, source: ExportSource): Promise<void> {
  const hash = createHash('sha256');
  let lines = 0;
  let bytes = 0;
  let part = 0;
  let pending: string[] = [];
  let pendingChars = 0;

  const flush = async () => {
    if (!pendingChars) return;
    const data = gzipSync(pending.join(''));
    pending = [];
    pendingChars = 0;
    const next = isoAfter(claimMs);
    await db.transaction(async (trx) => {
      const held = await trx('file_exports').where({ id: job.id, status: 'running', claim_expires_at: claim.current }).update({ claim_expires_at: next });
      if (!held) throw new ExportLetGo();
      await trx('file_export_parts').insert({ export_id: job.id, part: part++, data });
    });
    claim.current = next;
  };

  for await (const text of source.lines) {
    hash.update(text);
    bytes += Buffer.byteLength(text);
    pending.push(text);
    pendingChars += text.length;
    lines++;
    if (pendingChars >= PART_CHARS) await flush();
  }
  await flush();
  const header = job.format === 'csv' ? 1 : 0;
  await db('file_exports')
    .where({ id: job.id, status: 'running', claim_expires_at: claim.current })
    .update({
      ...source.finished,
      status: 'succeeded',
      row_count: Math.max(0, lines - header),
      bytes,
      sha256: hash.digest('hex'),
      claim_expires_at: null,
      expires_at: isoAfter(KEPT_MS),
      completed_at: nowIso(),
    });
}

/** Thrown by a writer whose claim was taken over: it stops, and leaves the export to the new one. */
class ExportLetGo extends Error {}

/** Marks a write that failed; only while the writer still holds the claim. */
async function failExport(db: Db, id: string, claim: string, error: string): Promise<void> {
  await db.transaction(async (trx) => {
    const held = await trx('file_exports')
      .where({ id, status: 'running', claim_expires_at: claim })
      .update({ status: 'failed', error: error.replace(/\p{Cc}/gu, ' ').slice(0, 500), claim_expires_at: null, completed_at: nowIso() });
    if (held) await trx('file_export_parts').where({ export_id: id }).delete();
  });
}

/** The file of a succeeded export, part after part, each decompressed as it is sent. */
export function exportContent(db: Db, exportId: string): Readable {
  let part = 0;
  const next = async (stream: Readable) => {
    try {
      const row = await db('file_export_parts').where({ export_id: exportId, part }).first<{ data: Buffer } | undefined>('data');
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
  const ids = await db('file_exports').where('status', 'succeeded').where('expires_at', '<=', nowIso()).pluck<string[]>('id');
  for (const id of ids) {
    await db.transaction(async (trx) => {
      await trx('file_export_parts').where({ export_id: id }).delete();
      await trx('file_exports').where({ id }).update({ status: 'expired' });
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
