import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import { notFound } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { isoAfter, nowIso } from '../../util/time.js';
import type { UploadedFile } from '../../util/uploaded-file.js';

export type Upload = components['schemas']['Upload'];

/** How long an upload and its content are kept. */
export const UPLOAD_RETENTION_MS = 24 * 3600 * 1000;

/** Every column but the content, which only the copy into a transcription reads (in the database). */
const COLUMNS = 'id, application_id, filename, content_type, bytes, sha256, expires_at, created_at';

export type UploadRow = {
  id: string;
  application_id: string;
  filename: string;
  content_type: string;
  bytes: number | string;
  sha256: string;
  expires_at: string;
  created_at: string;
};

export const toUpload = (row: UploadRow): Upload => ({
  id: row.id,
  object: 'upload',
  filename: row.filename,
  contentType: row.content_type,
  bytes: Number(row.bytes),
  sha256: row.sha256,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
});

export async function insertUpload(db: Executor, applicationId: string, file: UploadedFile): Promise<UploadRow> {
  const now = nowIso();
  const row: UploadRow = {
    id: newId('upl'),
    application_id: applicationId,
    filename: file.filename,
    content_type: file.contentType,
    bytes: file.data.length,
    sha256: file.sha256,
    expires_at: isoAfter(UPLOAD_RETENTION_MS),
    created_at: now,
  };
  await db('uploads').insert({ ...row, content: file.data });
  return row;
}

/** The application's upload, 404 when there is none or it has expired (the sweeper may not have deleted it yet). */
export async function getUploadRow(db: Executor, applicationId: string, id: string): Promise<UploadRow> {
  const [row] = await selectRows<UploadRow>(db, `select ${COLUMNS} from uploads where id = ? and application_id = ? and expires_at > ?`, [
    id,
    applicationId,
    nowIso(),
  ]);
  if (!row) throw notFound('upload', id);
  return row;
}

export async function deleteUpload(db: Executor, id: string): Promise<void> {
  await db('uploads').where({ id }).delete();
}

/** Deletes up to `limit` expired uploads; returns how many. */
export async function deleteExpiredUploads(db: Executor, limit: number): Promise<number> {
  const expired = db('uploads').where('expires_at', '<=', nowIso()).orderBy('expires_at').limit(limit).select('id');
  return db('uploads').whereIn('id', expired).delete();
}
