import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { defineHandlers } from '../handler-types.js';
import * as store from './store.js';

/** 422 unless a chunk can start with some overlap and still take new text. */
function assertChunking(chunking: store.KnowledgeBase['chunking']): void {
  if (chunking.overlapTokens < chunking.maxTokens) return;
  const detail = `overlapTokens (${chunking.overlapTokens}) must be less than maxTokens (${chunking.maxTokens}).`;
  throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/chunking/overlapTokens', in: 'body', detail }] });
}

export const knowledgeHandlers = defineHandlers({
  listKnowledgeBases: async ({ db, auth, query }) => ({ status: 200, body: await store.listKnowledgeBases(db, auth.applicationId, query) }),

  createKnowledgeBase: async ({ db, auth, body }) => {
    const fields: store.KnowledgeBaseFields = {
      name: body.name,
      description: body.description ?? null,
      chunking: { ...store.DEFAULT_CHUNKING, ...body.chunking },
      metadata: body.metadata ?? {},
    };
    assertChunking(fields.chunking);
    const base = await store.getKnowledgeBase(db, auth.applicationId, await store.insertKnowledgeBase(db, auth.applicationId, fields));
    return { status: 201, body: base, headers: { Location: `/api/v1/knowledge-bases/${base.id}` } };
  },

  getKnowledgeBase: async ({ db, auth, path }) => ({ status: 200, body: await store.getKnowledgeBase(db, auth.applicationId, path.kbId) }),

  updateKnowledgeBase: async ({ db, auth, path, body, checkIfMatch }) => {
    const current = await store.getKnowledgeBase(db, auth.applicationId, path.kbId, { forUpdate: true });
    checkIfMatch(current);
    const { name, description, chunking, metadata } = current;
    const patched = mergePatch({ name, description, chunking, metadata }, body);
    const next: store.KnowledgeBaseFields = { ...patched, description: patched.description ?? null };
    assertChunking(next.chunking);
    await store.updateKnowledgeBase(db, current.id, next);
    return { status: 200, body: await store.getKnowledgeBase(db, auth.applicationId, current.id) };
  },

  deleteKnowledgeBase: async ({ db, auth, path, checkIfMatch }) => {
    const current = await store.getKnowledgeBase(db, auth.applicationId, path.kbId, { forUpdate: true });
    checkIfMatch(current);
    await store.deleteKnowledgeBase(db, current.id);
    return { status: 204, body: undefined };
  },
});
