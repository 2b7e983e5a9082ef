import { claimRows, type Claimed } from '../../db/claims.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { writerRows } from '../../db/statements.js';
import { isoAfter, nowIso } from '../../util/time.js';
import type { DocumentError, DocumentRow, DocumentStatus } from './documents.js';

export type { Claimed };

/** The document's pending work as the worker reads it. */
export type PendingWork = {
  row: DocumentRow;
  source: Buffer | null;
  sourceType: 'text' | 'markdown' | 'file' | null;
  mediaType: string | null;
  content: string | null;
  contentType: 'text' | 'markdown' | null;
};

const WORKING: DocumentStatus[] = ['parsing', 'chunking', 'embedding'];

/**
 * Takes up to `limit` documents to index: queued ones, and those whose worker's claim ran out.
 * Each replica takes its own (SKIP LOCKED on PostgreSQL; SQLite has one writer).
 */
export const claimDocuments = (db: Executor, limit: number, lockMs: number): Promise<Claimed[]> =>
  claimRows(
    db,
    {
      table: 'knowledge_documents',
      claimable: (query, now) => {
        query.where({ status: 'queued' }).orWhere((q) => {
          q.whereIn('status', WORKING).where('locked_until', '<=', now);
        });
      },
      orderBy: 'updated_at',
      set: (token, now) => ({ status: 'parsing', lock_token: token, locked_until: isoAfter(lockMs), updated_at: now }),
    },
    limit,
  );

export async function pendingWork(db: Executor, job: Claimed): Promise<PendingWork | undefined> {
  const row = (await db('knowledge_documents').where({ id: job.id, lock_token: job.token }).first()) as
    | (DocumentRow & {
        pending_source: Buffer | null;
        pending_type: PendingWork['sourceType'];
        pending_media_type: string | null;
        content: string | null;
        content_type: PendingWork['contentType'];
      })
    | undefined;
  if (!row) return undefined;
  return {
    row,
    source: row.pending_source,
    sourceType: row.pending_type,
    mediaType: row.pending_media_type,
    content: row.content,
    contentType: row.content_type,
  };
}

/** Moves on to the next step and extends the claim; false when the document is no longer this worker's (replaced, deleted, taken over). */
export async function advance(db: Executor, job: Claimed, status: DocumentStatus, lockMs: number): Promise<boolean> {
  const updated = await db('knowledge_documents')
    .where({ id: job.id, lock_token: job.token })
    .update({ status, locked_until: isoAfter(lockMs), updated_at: nowIso() });
  return updated > 0;
}

/** The document locked for the final write, if this worker still holds it. */
export async function heldDocument(db: Executor, job: Claimed): Promise<DocumentRow | undefined> {
  const lock = isPostgres(db) ? ' for update' : '';
  const [row] = await writerRows<DocumentRow>(db, `select * from knowledge_documents where id = ? and lock_token = ?${lock}`, [job.id, job.token]);
  return row;
}

/** The new version serves from now on: its text, counts and status, the pending source gone. */
export async function markIndexed(
  db: Executor,
  id: string,
  result: { version: number; content: string; contentType: 'text' | 'markdown'; chunkCount: number; tokenCount: number },
) {
  const now = nowIso();
  await db('knowledge_documents').where({ id }).update({
    status: 'indexed',
    version: result.version,
    content: result.content,
    content_type: result.contentType,
    chunk_count: result.chunkCount,
    token_count: result.tokenCount,
    indexed_at: now,
    error_code: null,
    error_message: null,
    pending_source: null,
    pending_type: null,
    pending_media_type: null,
    lock_token: null,
    locked_until: null,
    updated_at: now,
  });
}

/** The pending work failed: the version before (if any) keeps serving, and the failed source is dropped. */
export async function markFailed(db: Executor, id: string, error: DocumentError) {
  await db('knowledge_documents').where({ id }).update({
    status: 'failed',
    error_code: error.code,
    error_message: error.message,
    pending_source: null,
    pending_type: null,
    pending_media_type: null,
    lock_token: null,
    locked_until: null,
    updated_at: nowIso(),
  });
}

export async function documentRow(db: Executor, id: string): Promise<DocumentRow> {
  return (await db('knowledge_documents').where({ id }).first()) as DocumentRow;
}
