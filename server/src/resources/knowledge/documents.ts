import { createHash } from 'node:crypto';
import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { queryRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type KnowledgeDocument = components['schemas']['KnowledgeDocument'];
export type DocumentMetadata = components['schemas']['KnowledgeDocumentMetadata'];
export type DocumentStatus = components['schemas']['KnowledgeDocumentStatus'];
export type DocumentError = components['schemas']['KnowledgeDocumentError'];

/** What an import brings: JSON text or Markdown, or a file the worker parses. */
export type ImportedSource = {
  type: 'text' | 'markdown' | 'file';
  bytes: Buffer;
  filename: string | null;
  /** The declared media type of a file; the parser trusts its content first. */
  mediaType: string | null;
};

export type DocumentRow = {
  id: string;
  application_id: string;
  knowledge_base_id: string;
  name: string;
  source_type: 'text' | 'markdown' | 'file';
  filename: string | null;
  media_type: string | null;
  content_hash: string;
  bytes: number | string;
  metadata: string;
  status: DocumentStatus;
  error_code: DocumentError['code'] | null;
  error_message: string | null;
  version: number;
  chunk_count: number;
  token_count: number | string;
  indexed_at: string | null;
  lock_token: string | null;
  locked_until: string | null;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<DocumentRow>({
  id: true,
  application_id: true,
  knowledge_base_id: true,
  name: true,
  source_type: true,
  filename: true,
  media_type: true,
  content_hash: true,
  bytes: true,
  metadata: true,
  status: true,
  error_code: true,
  error_message: true,
  version: true,
  chunk_count: true,
  token_count: true,
  indexed_at: true,
  lock_token: true,
  locked_until: true,
  created_at: true,
  updated_at: true,
});

export const contentHash = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export const toDocument = (row: DocumentRow): KnowledgeDocument => ({
  id: row.id,
  object: 'knowledge_document',
  knowledgeBaseId: row.knowledge_base_id,
  name: row.name,
  source: { type: row.source_type, filename: row.filename, mediaType: row.media_type },
  contentHash: row.content_hash,
  bytes: Number(row.bytes),
  metadata: fromJsonColumn<DocumentMetadata>(row.metadata, {}),
  status: row.status,
  error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
  version: row.version,
  chunkCount: row.chunk_count,
  tokenCount: Number(row.token_count),
  indexedAt: row.indexed_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function getDocumentRow(db: Executor, knowledgeBaseId: string, id: string, options: ReadOptions = {}): Promise<DocumentRow> {
  return getRow<DocumentRow>(db, 'knowledge_documents', { id, knowledge_base_id: knowledgeBaseId }, 'document', options, COLUMNS);
}

export async function documentByHash(db: Executor, knowledgeBaseId: string, hash: string): Promise<DocumentRow | undefined> {
  const [row] = await queryRows<DocumentRow>(db('knowledge_documents').where({ knowledge_base_id: knowledgeBaseId, content_hash: hash }).select(COLUMNS));
  return row;
}

/** `metadata=field:value` filters: the field's written form (a number or boolean as JSON writes it) must equal the value. */
export async function listDocuments(db: Executor, knowledgeBaseId: string, filters: PageQuery & { status?: DocumentStatus; metadata?: string[] }) {
  const query = db('knowledge_documents').where({ knowledge_base_id: knowledgeBaseId }).select(COLUMNS);
  if (filters.status) query.where({ status: filters.status });
  for (const pair of filters.metadata ?? []) {
    const colon = pair.indexOf(':');
    query.whereExists((q) => {
      q.select(db.raw('1'))
        .from('knowledge_document_metadata as m')
        .whereRaw('m.document_id = knowledge_documents.id')
        .where({ 'm.key': pair.slice(0, colon), 'm.text_value': pair.slice(colon + 1) });
    });
  }
  return listPage<DocumentRow, KnowledgeDocument>(query, filters, { createdAt: 'created_at' }, toDocument);
}

/** One row per field, so filters are indexed lookups: numbers also as numbers, for ranges. */
async function writeMetadata(db: Executor, documentId: string, metadata: DocumentMetadata): Promise<void> {
  await db('knowledge_document_metadata').where({ document_id: documentId }).delete();
  const rows = Object.entries(metadata).map(([key, value]) => ({
    document_id: documentId,
    key,
    value_type: typeof value,
    text_value: String(value),
    number_value: typeof value === 'number' ? value : null,
  }));
  if (rows.length) await db('knowledge_document_metadata').insert(rows);
}

const pendingColumns = (source: ImportedSource) => ({
  source_type: source.type,
  filename: source.filename,
  media_type: source.type === 'file' ? source.mediaType : null,
  content_hash: contentHash(source.bytes),
  bytes: source.bytes.length,
  pending_source: source.bytes,
  pending_type: source.type,
  pending_media_type: source.mediaType,
});

export async function insertDocument(
  db: Executor,
  base: { id: string; applicationId: string },
  fields: { name: string; metadata: DocumentMetadata },
  source: ImportedSource,
): Promise<string> {
  const now = nowIso();
  const id = newId('doc');
  await db('knowledge_documents').insert({
    id,
    application_id: base.applicationId,
    knowledge_base_id: base.id,
    name: fields.name,
    metadata: toJsonColumn(fields.metadata),
    ...pendingColumns(source),
    status: 'queued',
    version: 0,
    chunk_count: 0,
    token_count: 0,
    created_at: now,
    updated_at: now,
  });
  await writeMetadata(db, id, fields.metadata);
  return id;
}

/** New content waits for the worker (any claim on the previous one is void); the serving chunks stay. */
export async function replaceContent(db: Executor, id: string, fields: { name: string; metadata: DocumentMetadata }, source: ImportedSource | null) {
  await db('knowledge_documents')
    .where({ id })
    .update({
      name: fields.name,
      metadata: toJsonColumn(fields.metadata),
      ...(source ? { ...pendingColumns(source), status: 'queued', error_code: null, error_message: null, lock_token: null, locked_until: null } : {}),
      updated_at: nowIso(),
    });
  await writeMetadata(db, id, fields.metadata);
}

/** Every document of a base indexed again (a new embedding model): the worker takes the pending source, else the text served now. */
export async function requeueBase(db: Executor, knowledgeBaseId: string): Promise<number> {
  return db('knowledge_documents')
    .where({ knowledge_base_id: knowledgeBaseId })
    .update({ status: 'queued', error_code: null, error_message: null, lock_token: null, locked_until: null, updated_at: nowIso() });
}

export async function deleteDocument(db: Executor, id: string): Promise<void> {
  await db('knowledge_documents').where({ id }).delete();
}

/** The text the serving chunks were cut from, and whether it was Markdown. */
export async function servingContent(db: Executor, id: string): Promise<{ content: string | null; contentType: string | null }> {
  const [row] = await queryRows<{ content: string | null; content_type: string | null }>(
    db('knowledge_documents').where({ id }).select('content', 'content_type'),
  );
  return { content: row?.content ?? null, contentType: row?.content_type ?? null };
}
