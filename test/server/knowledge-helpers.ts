import { expect } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { call, type Conn } from './run-helpers.js';

export type KnowledgeBase = components['schemas']['KnowledgeBase'];
export type KnowledgeDocument = components['schemas']['KnowledgeDocument'];
export type KnowledgeChunk = components['schemas']['KnowledgeChunk'];
export type QueryResult = components['schemas']['KnowledgeQueryResult'];
export type Hit = components['schemas']['KnowledgeHit'];

export async function createBase(conn: Conn, body: Record<string, unknown> = {}): Promise<KnowledgeBase> {
  const reply = await call<KnowledgeBase>(conn, 'POST', '/api/v1/knowledge-bases', { name: 'Handbook', ...body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
}

export async function importMarkdown(conn: Conn, kbId: string, name: string, markdown: string, metadata: Record<string, unknown> = {}) {
  const reply = await call<KnowledgeDocument>(conn, 'POST', `/api/v1/knowledge-bases/${kbId}/documents`, { name, markdown, metadata });
  expect([200, 202], JSON.stringify(reply.body)).toContain(reply.status);
  return reply.body;
}

/** The document once its indexing has ended (indexed or failed), polling its status. */
export async function settled(conn: Conn, doc: Pick<KnowledgeDocument, 'id' | 'knowledgeBaseId'>, timeoutMs = 30_000): Promise<KnowledgeDocument> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const reply = await call<KnowledgeDocument>(conn, 'GET', `/api/v1/knowledge-bases/${doc.knowledgeBaseId}/documents/${doc.id}`);
    expect(reply.status).toBe(200);
    if (reply.body.status === 'indexed' || reply.body.status === 'failed') return reply.body;
    if (Date.now() > until) throw new Error(`document ${doc.id} still ${reply.body.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every document of a base settled: none queued or in progress. */
export async function allSettled(conn: Conn, kbId: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending = await Promise.all(
      (['queued', 'parsing', 'chunking', 'embedding'] as const).map(
        async (status) =>
          (await call<{ pagination: { total: number } }>(conn, 'GET', `/api/v1/knowledge-bases/${kbId}/documents?status=${status}&pageSize=1`)).body.pagination
            .total,
      ),
    );
    if (pending.every((n) => n === 0)) return;
    if (Date.now() > until) throw new Error(`documents still pending after ${timeoutMs} ms: ${pending.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function query(conn: Conn, kbId: string, body: Record<string, unknown>): Promise<QueryResult> {
  const reply = await call<QueryResult>(conn, 'POST', `/api/v1/knowledge-bases/${kbId}/query`, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

export async function contentOf(conn: Conn, doc: Pick<KnowledgeDocument, 'id' | 'knowledgeBaseId'>): Promise<string> {
  const res = await fetch(`${conn.baseUrl}/api/v1/knowledge-bases/${doc.knowledgeBaseId}/documents/${doc.id}/content`, {
    headers: { Authorization: `Bearer ${conn.key}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** Each hit's text, snippet and highlights are the document's own characters at the offsets it gives. */
export function expectCitable(hit: Hit, content: string): void {
  expect(content.slice(hit.charStart, hit.charEnd)).toBe(hit.text);
  expect(hit.citation).toBe(`${hit.documentId}:${hit.charStart}-${hit.charEnd}`);
  expect(content.slice(hit.snippet.charStart, hit.snippet.charEnd)).toBe(hit.snippet.text);
  expect(hit.snippet.charStart).toBeGreaterThanOrEqual(hit.charStart);
  expect(hit.snippet.charEnd).toBeLessThanOrEqual(hit.charEnd);
  for (const h of hit.highlights) {
    expect(h.start).toBeGreaterThanOrEqual(hit.charStart);
    expect(h.end).toBeLessThanOrEqual(hit.charEnd);
  }
}
