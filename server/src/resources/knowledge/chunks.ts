import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { listPage, type PageQuery } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import type { Chunk } from './chunker.js';

export type KnowledgeChunk = components['schemas']['KnowledgeChunk'];

export type ChunkRow = {
  id: string;
  knowledge_base_id: string;
  document_id: string;
  document_version: number;
  position: number;
  text: string;
  heading_path: string;
  char_start: number;
  char_end: number;
  token_count: number;
};
export const CHUNK_COLUMNS = [
  'id',
  'knowledge_base_id',
  'document_id',
  'document_version',
  'position',
  'text',
  'heading_path',
  'char_start',
  'char_end',
  'token_count',
] as const;

export const toChunk = (row: ChunkRow): KnowledgeChunk => ({
  id: row.id,
  object: 'knowledge_chunk',
  documentId: row.document_id,
  knowledgeBaseId: row.knowledge_base_id,
  documentVersion: row.document_version,
  position: row.position,
  text: row.text,
  headingPath: fromJsonColumn<string[]>(row.heading_path, []),
  charStart: row.char_start,
  charEnd: row.char_end,
  tokenCount: row.token_count,
});

export async function listChunks(db: Executor, documentId: string, filters: PageQuery) {
  const query = db('knowledge_chunks').where({ document_id: documentId }).select(CHUNK_COLUMNS);
  return listPage<ChunkRow, KnowledgeChunk>(query, { ...filters, sort: 'position' }, { position: 'position' }, toChunk);
}

/** Float32 little-endian, the form embeddings travel in; 4 bytes per dimension. */
export const packVector = (vector: number[]) => Buffer.from(new Float32Array(vector).buffer);
export const unpackVector = (bytes: Buffer) => new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));

/** SQLite takes at most 32,766 bound values a statement: rows of 14 columns go in batches well under. */
const BATCH = 500;

/**
 * The chunks of a new version replace the document's old ones in the caller's transaction: a
 * query sees either set whole, never a mix or none.
 */
export async function swapChunks(
  db: Executor,
  document: { id: string; applicationId: string; knowledgeBaseId: string; version: number },
  chunks: Chunk[],
  embeddings: { model: string; vectors: number[][] } | null,
): Promise<void> {
  await db('knowledge_chunks').where({ document_id: document.id }).delete();
  const rows = chunks.map((chunk, i) => ({
    id: newId('chk'),
    application_id: document.applicationId,
    knowledge_base_id: document.knowledgeBaseId,
    document_id: document.id,
    document_version: document.version,
    position: chunk.position,
    text: chunk.text,
    headings: chunk.headingPath.join(' / '),
    heading_path: toJsonColumn(chunk.headingPath),
    char_start: chunk.charStart,
    char_end: chunk.charEnd,
    token_count: chunk.tokenCount,
    embedding_model: embeddings?.model ?? null,
    embedding: embeddings ? packVector(embeddings.vectors[i]!) : null,
  }));
  for (let i = 0; i < rows.length; i += BATCH) await db('knowledge_chunks').insert(rows.slice(i, i + BATCH));
}
