import type { components } from '../../generated/openapi.js';
import { claimRows, type Claimed } from '../../db/claims.js';
import type { Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { selectRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter, nowIso } from '../../util/time.js';
import type { TranscriptionStatus } from './state-machine.js';

export type Transcription = components['schemas']['Transcription'];
export type TranscriptionSegment = components['schemas']['TranscriptionSegment'];
export type TranscriptionWord = components['schemas']['TranscriptionWord'];
export type Timestamps = components['schemas']['TranscriptionTimestamps'];

/** How long a job's audio is kept, unless `retainAudio`. */
export const AUDIO_RETENTION_MS = 24 * 3600 * 1000;

export type TranscriptionRow = {
  id: string;
  application_id: string;
  key_id: string | null;
  status: TranscriptionStatus;
  model: string;
  language: string | null;
  prompt: string | null;
  timestamps: Timestamps;
  retain_audio: boolean | number;
  upload_id: string | null;
  filename: string;
  content_type: string;
  audio_expires_at: string | null;
  audio_deleted_at: string | null;
  text: string | null;
  duration_seconds: number | null;
  segments: string | null;
  words: string | null;
  audio_seconds: number | null;
  cost_micros: number | string | null;
  error_code: string | null;
  error_message: string | null;
  metadata: string;
  lock_token: string | null;
  locked_until: string | null;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
  updated_at: string;
};

export const toTranscription = (row: TranscriptionRow): Transcription => ({
  id: row.id,
  object: 'transcription',
  status: row.status,
  model: row.model,
  language: row.language,
  prompt: row.prompt,
  timestamps: row.timestamps,
  retainAudio: Boolean(row.retain_audio),
  uploadId: row.upload_id,
  filename: row.filename,
  audioExpiresAt: row.audio_expires_at,
  audioDeletedAt: row.audio_deleted_at,
  text: row.text,
  durationSeconds: row.duration_seconds,
  segments: fromJsonColumn<TranscriptionSegment[]>(row.segments, []),
  words: fromJsonColumn<TranscriptionWord[] | null>(row.words, null),
  usage: row.status === 'succeeded' ? { audioSeconds: row.audio_seconds, costMicros: row.cost_micros === null ? null : Number(row.cost_micros) } : null,
  error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
  metadata: fromJsonColumn(row.metadata, {}),
  startedAt: row.started_at,
  completedAt: row.completed_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type TranscriptionInput = {
  keyId: string | null;
  model: string;
  language: string | null;
  prompt: string | null;
  timestamps: Timestamps;
  retainAudio: boolean;
  uploadId: string | null;
  filename: string;
  contentType: string;
  metadata: Record<string, string>;
};

/**
 * Queues a job. Its audio is either `data` or, copied inside the database (never through this
 * process), the content of the application's upload `uploadId`.
 */
export async function insertTranscription(
  db: Executor,
  applicationId: string,
  input: TranscriptionInput,
  audio: Buffer | { uploadId: string },
): Promise<TranscriptionRow> {
  const now = nowIso();
  const row: TranscriptionRow = {
    id: newId('trn'),
    application_id: applicationId,
    key_id: input.keyId,
    status: 'queued',
    model: input.model,
    language: input.language,
    prompt: input.prompt,
    timestamps: input.timestamps,
    retain_audio: input.retainAudio,
    upload_id: input.uploadId,
    filename: input.filename,
    content_type: input.contentType,
    audio_expires_at: input.retainAudio ? null : isoAfter(AUDIO_RETENTION_MS),
    audio_deleted_at: null,
    text: null,
    duration_seconds: null,
    segments: null,
    words: null,
    audio_seconds: null,
    cost_micros: null,
    error_code: null,
    error_message: null,
    metadata: toJsonColumn(input.metadata),
    lock_token: null,
    locked_until: null,
    started_at: null,
    completed_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('transcriptions').insert(row);
  if (Buffer.isBuffer(audio)) await db('transcription_audio').insert({ transcription_id: row.id, content: audio });
  else
    await db.raw('insert into transcription_audio (transcription_id, content) select ?, content from uploads where id = ? and application_id = ?', [
      row.id,
      audio.uploadId,
      applicationId,
    ]);
  return row;
}

export const getTranscriptionRow = (db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}) =>
  getRow<TranscriptionRow>(db, 'transcriptions', where, 'transcription', options);

export function listTranscriptions(db: Executor, applicationId: string, filters: PageQuery & { status?: TranscriptionStatus; model?: string }) {
  const query = db('transcriptions').where({ application_id: applicationId });
  if (filters.status) query.where({ status: filters.status });
  if (filters.model) query.where({ model: filters.model });
  return listPage(query, filters, { createdAt: 'created_at' }, toTranscription);
}

/** Ends a job that is not over (`cancel` or, with its error, `fail`): whoever holds it loses its lock and records nothing. */
export async function endUnfinished(db: Executor, id: string, status: 'cancelled' | 'failed', error?: { code: string; message: string }): Promise<void> {
  const now = nowIso();
  await db('transcriptions')
    .where({ id })
    .update({
      status,
      error_code: error?.code ?? null,
      error_message: error?.message ?? null,
      lock_token: null,
      locked_until: null,
      completed_at: now,
      updated_at: now,
    });
}

export async function deleteTranscription(db: Executor, id: string): Promise<void> {
  await db('transcription_audio').where({ transcription_id: id }).delete();
  await db('transcriptions').where({ id }).delete();
}

/** The job's audio, or undefined once it has been deleted. */
export async function audioOf(db: Executor, id: string): Promise<Buffer | undefined> {
  const [row] = await selectRows<{ content: Buffer }>(db, 'select content from transcription_audio where transcription_id = ?', [id]);
  return row?.content;
}

export type { Claimed };

/**
 * Takes up to `limit` jobs for one worker: queued ones, and processing ones whose worker's lock ran
 * out (it crashed). Each gets a token of its own, which its later writes must present: a job
 * cancelled, deleted or taken over meanwhile refuses them. On PostgreSQL the rows another replica
 * is claiming are skipped, not waited for.
 */
export const claimJobs = (db: Executor, limit: number, lockMs: number): Promise<Claimed[]> =>
  claimRows(
    db,
    {
      table: 'transcriptions',
      // The statuses `start` leaves from: queued, and processing under a lock that ran out.
      claimable: (query, now) => {
        query.where({ status: 'queued' }).orWhere((q) => {
          q.where({ status: 'processing' }).where('locked_until', '<=', now);
        });
      },
      orderBy: 'created_at',
      set: (token, now, trx) => ({
        status: 'processing',
        lock_token: token,
        locked_until: isoAfter(lockMs),
        started_at: trx.raw('coalesce(started_at, ?)', [now]),
        updated_at: now,
      }),
    },
    limit,
  );

/** Extends the claim; false when the job is no longer this worker's (cancelled, deleted, taken over). */
export async function extendClaim(db: Executor, job: Claimed, lockMs: number): Promise<boolean> {
  const updated = await db('transcriptions')
    .where({ id: job.id, lock_token: job.token, status: 'processing' })
    .update({ locked_until: isoAfter(lockMs) });
  return updated > 0;
}

/** Puts a job back in the queue, untouched, when its worker stops before it ends. */
export async function releaseClaim(db: Executor, job: Claimed): Promise<void> {
  await db('transcriptions')
    .where({ id: job.id, lock_token: job.token, status: 'processing' })
    .update({ status: 'queued', lock_token: null, locked_until: null, updated_at: nowIso() });
}

/** The job locked for its final write, if this worker still holds it. */
export async function heldJob(db: Executor, job: Claimed): Promise<TranscriptionRow | undefined> {
  const row = await getTranscriptionRow(db, { id: job.id }, { forUpdate: true }).catch(() => undefined);
  return row && row.status === 'processing' && row.lock_token === job.token ? row : undefined;
}

export type TranscriptResult = {
  text: string;
  language: string | null;
  durationSeconds: number | null;
  segments: TranscriptionSegment[];
  words: TranscriptionWord[] | null;
  costMicros: number | null;
};

export async function recordSuccess(db: Executor, id: string, result: TranscriptResult): Promise<void> {
  const now = nowIso();
  await db('transcriptions')
    .where({ id })
    .update({
      status: 'succeeded',
      text: result.text,
      language: result.language,
      duration_seconds: result.durationSeconds,
      segments: toJsonColumn(result.segments),
      words: result.words === null ? null : toJsonColumn(result.words),
      audio_seconds: result.durationSeconds,
      cost_micros: result.costMicros,
      lock_token: null,
      locked_until: null,
      completed_at: now,
      updated_at: now,
    });
}

/**
 * Deletes the audio of up to `limit` jobs whose audio has expired, and says when on each job;
 * returns how many.
 */
export async function deleteExpiredAudio(db: Executor, limit: number): Promise<number> {
  return db.transaction(async (trx) => {
    const now = nowIso();
    const rows = await trx('transcriptions')
      .where('audio_expires_at', '<=', now)
      .whereNull('audio_deleted_at')
      .orderBy('audio_expires_at')
      .limit(limit)
      .select<{ id: string }[]>('id');
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    await trx('transcription_audio').whereIn('transcription_id', ids).delete();
    await trx('transcriptions').whereIn('id', ids).update({ audio_deleted_at: now, updated_at: now });
    return ids.length;
  });
}
