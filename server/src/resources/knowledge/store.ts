import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type KnowledgeBase = components['schemas']['KnowledgeBase'];
export type KnowledgeBaseFields = Pick<KnowledgeBase, 'name' | 'description' | 'chunking' | 'embeddingModel' | 'metadata'>;

export const DEFAULT_CHUNKING: KnowledgeBase['chunking'] = { maxTokens: 512, overlapTokens: 64 };

type KnowledgeBaseRow = {
  id: string;
  application_id: string;
  name: string;
  description: string | null;
  max_tokens: number;
  overlap_tokens: number;
  embedding_model: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<KnowledgeBaseRow>({
  id: true,
  application_id: true,
  name: true,
  description: true,
  max_tokens: true,
  overlap_tokens: true,
  embedding_model: true,
  metadata: true,
  created_at: true,
  updated_at: true,
});

const toKnowledgeBase = (row: KnowledgeBaseRow): KnowledgeBase => ({
  id: row.id,
  object: 'knowledge_base',
  applicationId: row.application_id,
  name: row.name,
  description: row.description,
  chunking: { maxTokens: row.max_tokens, overlapTokens: row.overlap_tokens },
  embeddingModel: row.embedding_model,
  metadata: fromJsonColumn<Record<string, string>>(row.metadata, {}),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function getKnowledgeBase(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<KnowledgeBase> {
  return toKnowledgeBase(await getRow<KnowledgeBaseRow>(db, 'knowledge_bases', { id, application_id: applicationId }, 'knowledge base', options, COLUMNS));
}

export async function listKnowledgeBases(db: Executor, applicationId: string, filters: PageQuery) {
  const query = db('knowledge_bases').where({ application_id: applicationId }).select(COLUMNS);
  return listPage<KnowledgeBaseRow, KnowledgeBase>(query, filters, { createdAt: 'created_at' }, toKnowledgeBase);
}

const fieldColumns = (fields: KnowledgeBaseFields) => ({
  name: fields.name,
  description: fields.description,
  max_tokens: fields.chunking.maxTokens,
  overlap_tokens: fields.chunking.overlapTokens,
  embedding_model: fields.embeddingModel,
  metadata: toJsonColumn(fields.metadata),
});

export async function insertKnowledgeBase(db: Executor, applicationId: string, fields: KnowledgeBaseFields): Promise<string> {
  const now = nowIso();
  const id = newId('kb');
  await db('knowledge_bases').insert({ id, application_id: applicationId, ...fieldColumns(fields), created_at: now, updated_at: now });
  return id;
}

export async function updateKnowledgeBase(db: Executor, id: string, fields: KnowledgeBaseFields): Promise<void> {
  await db('knowledge_bases')
    .where({ id })
    .update({ ...fieldColumns(fields), updated_at: nowIso() });
}

export async function deleteKnowledgeBase(db: Executor, id: string): Promise<void> {
  await db('knowledge_bases').where({ id }).delete();
}

/** Which of `ids` are knowledge bases of the application. */
export async function existingKnowledgeBaseIds(db: Executor, applicationId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db('knowledge_bases').where({ application_id: applicationId }).whereIn('id', ids).select<{ id: string }[]>('id');
  return new Set(rows.map((row) => row.id));
}
