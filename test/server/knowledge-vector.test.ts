import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosine, hashingEmbedding } from '../support/hashing-embedder.js';
import { createAlias, startGateway, type Gateway, type UsageRow } from './gateway-helpers.js';
import { allSettled, contentOf, createBase, expectCitable, importMarkdown, query, settled, type KnowledgeBase } from './knowledge-helpers.js';
import { call, expectProblem } from './run-helpers.js';

/** Vector and hybrid queries with embeddings through the gateway: the test provider's deterministic hashing embedder. */
let gateway: Gateway;

const DOCS = [
  ['Kettles', '# Kettles\n\nDescale the kettle with white vinegar once a month to keep the element clean.'],
  ['Toasters', '# Toasters\n\nEmpty the crumb tray of the toaster every week; a full tray can catch fire.'],
  ['Blenders', '# Blenders\n\nThe blender jug is dishwasher safe, but wash the blades by hand to keep them sharp.'],
] as const;

beforeAll(async () => {
  gateway = await startGateway({ KNOWLEDGE_INTERVAL_MS: '200' });
  await createAlias(gateway, { alias: 'hash-embed', api: 'embeddings', upstreamModel: 'hash-embed-384', pricing: { inputMicrosPerMillionTokens: 20_000 } });
});
afterAll(async () => gateway.stop());

describe('vector and hybrid knowledge queries', () => {
  it('embed chunks as they are indexed, rank by cosine similarity, and fuse with full text', async () => {
    const conn = gateway.conn;
    const base = await createBase(conn, { embeddingModel: 'hash-embed' });
    expect(base.embeddingModel).toBe('hash-embed');
    for (const [name, markdown] of DOCS) await importMarkdown(conn, base.id, name, markdown);
    await allSettled(conn, base.id);

    const vector = await query(conn, base.id, { query: 'descale the kettle with vinegar', mode: 'vector', topK: 3 });
    expect(vector.mode).toBe('vector');
    const top = vector.data[0]!;
    expect(top.documentName).toBe('Kettles');
    expect(top.scoreDetail).toMatchObject({ fulltext: null, fused: null, vector: { rank: 1 } });
    // The similarity is the cosine of the query's and the chunk's embeddings, as the embedder computes them.
    const expected = cosine(hashingEmbedding('descale the kettle with vinegar', 384), hashingEmbedding(top.text, 384));
    expect(top.scoreDetail.vector!.similarity).toBeCloseTo(expected, 4);
    expect(top.score).toBeCloseTo(expected, 4);
    expect(vector.data.map((h) => h.scoreDetail.vector!.rank)).toEqual([1, 2, 3]);
    expect(top.highlights).toEqual([]);
    expectCitable(top, await contentOf(conn, { id: top.documentId, knowledgeBaseId: top.knowledgeBaseId }));

    // Hybrid is the default for a base with an embedding model: both parts and the fused score.
    const hybrid = await query(conn, base.id, { query: 'crumb tray toaster' });
    expect(hybrid.mode).toBe('hybrid');
    const fused = hybrid.data[0]!;
    expect(fused.documentName).toBe('Toasters');
    expect(fused.scoreDetail.fulltext).toMatchObject({ rank: 1 });
    expect(fused.scoreDetail.vector).toMatchObject({ rank: 1 });
    expect(fused.scoreDetail.fused).toBeCloseTo(2 / 61, 10);
    expect(fused.score).toBeCloseTo(1, 10);
    expect(fused.highlights.length).toBeGreaterThan(0);
    // A chunk the words do not find still comes from the vector list, with only its vector part.
    const vectorOnly = hybrid.data.find((h) => h.scoreDetail.fulltext === null);
    expect(vectorOnly?.scoreDetail.vector).not.toBeNull();
    expect(vectorOnly?.scoreDetail.fused).toBeCloseTo(1 / (60 + vectorOnly!.scoreDetail.vector!.rank), 10);

    // Each embedding call is in the usage ledger, priced, under the knowledge source.
    const rows = (await gateway.db('usage_events').where({ source: 'knowledge' })) as UsageRow[];
    expect(rows.length).toBeGreaterThanOrEqual(DOCS.length + 2);
    for (const row of rows) expect(row).toMatchObject({ alias: 'hash-embed', api: 'embeddings', outcome: 'succeeded' });
  });

  it('indexes every document again when the embedding model changes, and refuses an alias that does not embed', async () => {
    const conn = gateway.conn;
    const base = await createBase(conn);
    const doc = await settled(conn, await importMarkdown(conn, base.id, 'Kettles', DOCS[0][1]));
    expect(doc.version).toBe(1);
    expectProblem(await call(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/query`, { query: 'kettle', mode: 'vector' }), 422, 'embedding-not-configured');

    await createAlias(gateway, { alias: 'chat-only', api: 'chat' });
    expectProblem(await call(conn, 'PATCH', `/api/v1/knowledge-bases/${base.id}`, { embeddingModel: 'chat-only' }), 422, 'validation-error', 'chat-only');
    expectProblem(await call(conn, 'POST', '/api/v1/knowledge-bases', { name: 'x', embeddingModel: 'nope' }), 422, 'validation-error', 'nope');

    const patched = await call<KnowledgeBase>(conn, 'PATCH', `/api/v1/knowledge-bases/${base.id}`, { embeddingModel: 'hash-embed' });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const again = await settled(conn, doc);
    expect(again).toMatchObject({ status: 'indexed', version: 2 });
    expect((await query(conn, base.id, { query: 'kettle vinegar', mode: 'vector' })).data[0]!.documentName).toBe('Kettles');
  });
});
