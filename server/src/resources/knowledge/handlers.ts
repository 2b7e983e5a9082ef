import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { guardedAgents } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { mergePatch } from '../../util/merge-patch.js';
import { uploadedFile } from '../../util/uploaded-file.js';
import { defineHandlers, ownTransaction } from '../handler-types.js';
import { modelsByAlias } from '../models/store.js';
import { listChunks } from './chunks.js';
import * as documents from './documents.js';
import { detectFormat } from './parse.js';
import { runQuery, type QueryDeps } from './query.js';
import { wakeIndexers } from './queue.js';
import * as store from './store.js';

const invalid = (pointer: string, detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });

/** 422 unless a chunk can start with some overlap and still take new text. */
function assertChunking(chunking: store.KnowledgeBase['chunking']): void {
  if (chunking.overlapTokens < chunking.maxTokens) return;
  throw invalid('/chunking/overlapTokens', `overlapTokens (${chunking.overlapTokens}) must be less than maxTokens (${chunking.maxTokens}).`);
}

/** The alias must be the application's and serve embeddings: a base that could never embed is refused now. */
async function assertEmbeddingAlias(db: Executor, applicationId: string, alias: string | null): Promise<void> {
  if (alias === null) return;
  const model = (await modelsByAlias(db, applicationId, [alias])).get(alias);
  if (!model) throw invalid('/embeddingModel', `No model alias "${alias}" in this application.`);
  if (model.api !== 'embeddings') throw invalid('/embeddingModel', `The model alias "${alias}" serves the ${model.api} API, not embeddings.`);
}

type DocumentBody = { name?: string; text?: string; markdown?: string; file?: string; metadata?: documents.DocumentMetadata };

/** What a create or replace brings: JSON with exactly one of text or markdown, or an upload in one of the formats the worker parses. */
function importedSource(body: DocumentBody, uploadLimitBytes: number): { source: documents.ImportedSource; name: string | undefined } {
  if (body.file !== undefined) {
    const file = uploadedFile(body.file);
    if (file.data.length > uploadLimitBytes)
      throw new ProblemError('payload-too-large', `The file is ${file.data.length} bytes; documents may be at most ${uploadLimitBytes} bytes.`);
    const detected = detectFormat({ bytes: file.data, mediaType: file.contentType, filename: file.filename });
    if (!detected)
      throw new ProblemError(
        'unsupported-media-type',
        `The file "${file.filename}" (${file.contentType}) is not plain text, Markdown, HTML, PDF or Word (.docx).`,
      );
    return { source: { type: 'file', bytes: file.data, filename: file.filename, mediaType: detected.mediaType }, name: body.name ?? file.filename };
  }
  if ((body.text === undefined) === (body.markdown === undefined)) throw invalid('', 'Send exactly one of text or markdown (or upload a file).');
  const type = body.text !== undefined ? 'text' : 'markdown';
  return { source: { type, bytes: Buffer.from(body.text ?? body.markdown!, 'utf8'), filename: null, mediaType: null }, name: body.name };
}

const location = (doc: documents.KnowledgeDocument) => `/api/v1/knowledge-bases/${doc.knowledgeBaseId}/documents/${doc.id}`;

export function knowledgeHandlers(options: { sealer: Sealer; config: Pick<Config, 'knowledge' | 'modelProviders'>; logger: Logger }) {
  const agents = guardedAgents(options.config.modelProviders.policy);
  const { uploadLimitBytes } = options.config.knowledge;
  const queryDeps = (db: Executor): QueryDeps => ({ db, sealer: options.sealer, agents, logger: options.logger });
  const documentIn = async (db: Executor, applicationId: string, kbId: string, docId: string, forUpdate = false) => {
    await store.getKnowledgeBase(db, applicationId, kbId);
    return documents.getDocumentRow(db, kbId, docId, { forUpdate });
  };

  return defineHandlers({
    listKnowledgeBases: async ({ db, auth, query }) => ({ status: 200, body: await store.listKnowledgeBases(db, auth.applicationId, query) }),

    createKnowledgeBase: async ({ db, auth, body }) => {
      const fields: store.KnowledgeBaseFields = {
        name: body.name,
        description: body.description ?? null,
        chunking: { ...store.DEFAULT_CHUNKING, ...body.chunking },
        embeddingModel: body.embeddingModel ?? null,
        metadata: body.metadata ?? {},
      };
      assertChunking(fields.chunking);
      await assertEmbeddingAlias(db, auth.applicationId, fields.embeddingModel);
      const base = await store.getKnowledgeBase(db, auth.applicationId, await store.insertKnowledgeBase(db, auth.applicationId, fields));
      return { status: 201, body: base, headers: { Location: `/api/v1/knowledge-bases/${base.id}` } };
    },

    getKnowledgeBase: async ({ db, auth, path }) => ({ status: 200, body: await store.getKnowledgeBase(db, auth.applicationId, path.kbId) }),

    updateKnowledgeBase: async ({ db, auth, path, body, checkIfMatch, afterCommit }) => {
      const current = await store.getKnowledgeBase(db, auth.applicationId, path.kbId, { forUpdate: true });
      checkIfMatch(current);
      const { name, description, chunking, embeddingModel, metadata } = current;
      const patched = mergePatch({ name, description, chunking, embeddingModel, metadata }, body);
      const next: store.KnowledgeBaseFields = { ...patched, description: patched.description ?? null, embeddingModel: patched.embeddingModel ?? null };
      assertChunking(next.chunking);
      await assertEmbeddingAlias(db, auth.applicationId, next.embeddingModel);
      await store.updateKnowledgeBase(db, current.id, next);
      // Chunks embedded by another model (or none) cannot answer vector queries: every document is indexed again.
      if (next.embeddingModel !== current.embeddingModel && (await documents.requeueBase(db, current.id)) > 0) afterCommit(async () => wakeIndexers());
      return { status: 200, body: await store.getKnowledgeBase(db, auth.applicationId, current.id) };
    },

    deleteKnowledgeBase: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getKnowledgeBase(db, auth.applicationId, path.kbId, { forUpdate: true });
      checkIfMatch(current);
      await store.deleteKnowledgeBase(db, current.id);
      return { status: 204, body: undefined };
    },

    listKnowledgeDocuments: async ({ db, auth, path, query }) => {
      await store.getKnowledgeBase(db, auth.applicationId, path.kbId);
      return { status: 200, body: await documents.listDocuments(db, path.kbId, query) };
    },

    createKnowledgeDocument: async ({ db, auth, path, body, afterCommit }) => {
      const base = await store.getKnowledgeBase(db, auth.applicationId, path.kbId);
      const { source, name } = importedSource(body, uploadLimitBytes);
      const existing = await documents.documentByHash(db, base.id, documents.contentHash(source.bytes));
      if (existing) {
        const doc = documents.toDocument(existing);
        return { status: 200, body: doc, headers: { Location: location(doc) } };
      }
      let id: string;
      try {
        // In a savepoint: the same content imported at the same moment loses the race on the unique hash, and the request goes on.
        id = await db.transaction((trx) =>
          documents.insertDocument(trx, { id: base.id, applicationId: auth.applicationId }, { name: name!, metadata: body.metadata ?? {} }, source),
        );
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const doc = documents.toDocument((await documents.documentByHash(db, base.id, documents.contentHash(source.bytes)))!);
        return { status: 200, body: doc, headers: { Location: location(doc) } };
      }
      afterCommit(async () => wakeIndexers());
      const doc = documents.toDocument(await documents.getDocumentRow(db, base.id, id));
      return { status: 202, body: doc, headers: { Location: location(doc) } };
    },

    getKnowledgeDocument: async ({ db, auth, path }) => ({
      status: 200,
      body: documents.toDocument(await documentIn(db, auth.applicationId, path.kbId, path.docId)),
    }),

    replaceKnowledgeDocument: async ({ db, auth, path, body, checkIfMatch, afterCommit }) => {
      const current = await documentIn(db, auth.applicationId, path.kbId, path.docId, true);
      const before = documents.toDocument(current);
      checkIfMatch(before);
      const { source, name } = importedSource(body, uploadLimitBytes);
      const fields = { name: name ?? current.name, metadata: body.metadata ?? before.metadata };
      const hash = documents.contentHash(source.bytes);
      const unchanged = hash === current.content_hash;
      if (!unchanged) {
        const holder = await documents.documentByHash(db, current.knowledge_base_id, hash);
        if (holder) throw new ProblemError('conflict', `The document ${holder.id} of this knowledge base already holds this content.`);
      }
      await documents.replaceContent(db, current.id, fields, unchanged ? null : source);
      if (!unchanged) afterCommit(async () => wakeIndexers());
      const doc = documents.toDocument(await documents.getDocumentRow(db, current.knowledge_base_id, current.id));
      return unchanged ? { status: 200, body: doc } : { status: 202, body: doc };
    },

    deleteKnowledgeDocument: async ({ db, auth, path, checkIfMatch }) => {
      const current = await documentIn(db, auth.applicationId, path.kbId, path.docId, true);
      checkIfMatch(documents.toDocument(current));
      await documents.deleteDocument(db, current.id);
      return { status: 204, body: undefined };
    },

    getKnowledgeDocumentContent: async ({ db, auth, path }) => {
      const current = await documentIn(db, auth.applicationId, path.kbId, path.docId);
      const { content, contentType } = await documents.servingContent(db, current.id);
      if (content === null)
        throw new ProblemError('invalid-transition', `The document is ${current.status}: it has no indexed version yet, so no text to read.`);
      const type = contentType === 'markdown' ? 'text/markdown; charset=utf-8' : 'text/plain; charset=utf-8';
      // The text formats are strings, which the handler type (keyed on the JSON one) does not name.
      return { status: 200, body: content, contentType: type };
    },

    listKnowledgeChunks: async ({ db, auth, path, query }) => {
      const current = await documentIn(db, auth.applicationId, path.kbId, path.docId);
      return { status: 200, body: await listChunks(db, current.id, query) };
    },

    // Queries only read (and record their embedding calls' usage): outside a write transaction, which
    // on SQLite would hold the one writer through the provider's answer.
    queryKnowledgeBase: ownTransaction<'queryKnowledgeBase'>(async ({ db, auth, path, body, requestId, audit }) => {
      const result = await runQuery(queryDeps(db), { ...body, applicationId: auth.applicationId, knowledgeBaseIds: [path.kbId], requestId });
      await audit.record(db, { knowledgeBaseIds: [path.kbId], mode: result.mode, hits: result.data.length }, 200);
      return { status: 200, body: result };
    }),

    queryKnowledge: ownTransaction<'queryKnowledge'>(async ({ db, auth, body, requestId, audit }) => {
      const result = await runQuery(queryDeps(db), { ...body, applicationId: auth.applicationId, requestId });
      await audit.record(db, { knowledgeBaseIds: body.knowledgeBaseIds, mode: result.mode, hits: result.data.length }, 200);
      return { status: 200, body: result };
    }),
  });
}
