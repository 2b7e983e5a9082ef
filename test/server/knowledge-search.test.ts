import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from './gateway-helpers.js';
import { allSettled, createBase, expectCitable, query, type KnowledgeDocument } from './knowledge-helpers.js';
import { knowledgeCorpus } from '../support/knowledge-corpus.mjs';
import { call } from './run-helpers.js';

/**
 * A thousand generated Markdown documents, each about a few words of its own among words many
 * share: a query naming two of a document's words (and a common one) must find it first.
 */
const DOCUMENTS = 1000;

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway({ KNOWLEDGE_CONCURRENCY: '4', KNOWLEDGE_INTERVAL_MS: '200' });
});
afterAll(async () => gateway.stop());

/** Runs `work` over the items, `width` at a time. */
async function inParallel<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

describe('knowledge search over 1,000 documents', () => {
  it(
    'finds the expected document first for at least 95 % of keyword queries, with snippets and offsets on the matching text',
    { timeout: 300_000 },
    async () => {
      const conn = gateway.conn;
      const docs = knowledgeCorpus(DOCUMENTS);
      const base = await createBase(conn, { name: 'Generated' });
      const started = performance.now();
      const imported = await inParallel(docs, 8, async (doc) => {
        const reply = await call<KnowledgeDocument>(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/documents`, {
          name: doc.name,
          markdown: doc.markdown,
          metadata: doc.metadata,
        });
        expect(reply.status, JSON.stringify(reply.body)).toBe(202);
        return reply.body;
      });
      await allSettled(conn, base.id, 240_000);
      const importSeconds = (performance.now() - started) / 1000;
      const failed = await call<{ pagination: { total: number } }>(conn, 'GET', `/api/v1/knowledge-bases/${base.id}/documents?status=failed&pageSize=1`);
      expect(failed.body.pagination.total).toBe(0);

      const latencies: number[] = [];
      let first = 0;
      await inParallel(
        docs.map((doc, i) => ({ doc, id: imported[i]!.id })),
        4,
        async ({ doc, id }) => {
          const words = [doc.own[2]!, doc.own[3]!, doc.common];
          const began = performance.now();
          const result = await query(conn, base.id, { query: words.join(' '), topK: 5 });
          latencies.push(performance.now() - began);
          const top = result.data[0];
          if (top?.documentId !== id) return;
          first++;
          expectCitable(top, doc.markdown);
          expect(top.highlights.length).toBeGreaterThan(0);
          // Every highlight is one of the query's words as the text writes it (the stemmers may cut an ending off).
          for (const h of top.highlights) {
            const marked = doc.markdown.slice(h.start, h.end).toLowerCase();
            expect(
              words.some((w) => marked.startsWith(w.slice(0, 6)) || w.startsWith(marked.slice(0, 6))),
              `${marked} in ${words.join(' ')}`,
            ).toBe(true);
          }
          expect(words.some((w) => top.snippet.text.toLowerCase().includes(w.slice(0, 6)))).toBe(true);
        },
      );
      const sorted = latencies.sort((a, b) => a - b);
      const share = first / DOCUMENTS;
      console.log(
        `knowledge search: ${DOCUMENTS} documents imported and indexed in ${importSeconds.toFixed(1)} s (${(DOCUMENTS / importSeconds).toFixed(0)} docs/s); ` +
          `top-1 ${(share * 100).toFixed(1)} %; query p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`,
      );
      expect(share).toBeGreaterThanOrEqual(0.95);

      // A metadata filter narrows the same search: only shard "a" documents, one in four.
      const filtered = await query(conn, base.id, { query: docs[1]!.own[2]!, topK: 50, filter: { shard: 'a' } });
      for (const hit of filtered.data) expect(hit.metadata.shard).toBe('a');
      const ranged = await query(conn, base.id, { query: docs[8]!.own.slice(2, 4).join(' '), filter: { n: { gte: 8, lte: 8 } } });
      expect(ranged.data.map((h) => h.documentName)).toEqual(Array(ranged.data.length).fill('doc-8'));
      expect(ranged.data.length).toBeGreaterThan(0);
    },
  );
});
