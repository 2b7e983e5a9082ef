// knowledge: import throughput and query latency of knowledge bases. Generated Markdown documents
// (test/support/knowledge-corpus.mjs; 8 paragraphs each, chunked at 64 tokens, about 10,000
// chunks in all at full length) are imported 8 at a time into a base that embeds its chunks
// through the gateway (the test provider's deterministic hashing embedder, its own process), until
// every one is indexed: documents/s and chunks/s. Then sequential queries of two of a document's
// own words and a common one, full text and hybrid (full text + vector, fused): p50 and p99. On
// SQLite, and on PostgreSQL too when DATABASE_URL names one.
import { knowledgeCorpus } from '../../support/knowledge-corpus.mjs';
import { postgresBaseUrl, postgresDatabase, sqliteDatabase } from '../lib/databases.mjs';
import { apiClient } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { startProvider } from '../lib/provider.mjs';
import { aggregate, summarize } from '../lib/stats.mjs';

export const name = 'knowledge';
export const description = 'knowledge bases: import throughput to indexed, query p50/p99 full text and hybrid over ~10,000 chunks';

async function importAll(api, kbId, docs) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < docs.length) {
        const doc = docs[next++];
        await api.call('POST', `/api/v1/knowledge-bases/${kbId}/documents`, { name: doc.name, markdown: doc.markdown, metadata: doc.metadata }, {}, [202]);
      }
    }),
  );
  for (;;) {
    const pending = await Promise.all(
      ['queued', 'parsing', 'chunking', 'embedding'].map(
        async (s) => (await api.get(`/api/v1/knowledge-bases/${kbId}/documents?status=${s}&pageSize=1`)).pagination.total,
      ),
    );
    if (pending.every((n) => n === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function measure(database, provider, settings, log) {
  const server = await startSwitchboard({ database, env: { MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true', KNOWLEDGE_CONCURRENCY: '4' } });
  try {
    const api = apiClient(server.url, server.key);
    const created = await api.create('/api/v1/model-providers', {
      name: 'bench',
      kind: 'openai-compatible',
      baseUrl: `${provider.url}/v1`,
      credential: 'sk-bench',
    });
    await api.create('/api/v1/models', { alias: 'bench-embed', providerId: created.id, upstreamModel: 'hash-embed-384', api: 'embeddings' });
    const base = await api.create('/api/v1/knowledge-bases', { name: 'bench', chunking: { maxTokens: 64, overlapTokens: 8 }, embeddingModel: 'bench-embed' });
    const docs = knowledgeCorpus(settings.knowledgeDocuments, { paragraphs: 8 });
    const started = performance.now();
    await importAll(api, base.id, docs);
    const seconds = (performance.now() - started) / 1000;
    const failed = (await api.get(`/api/v1/knowledge-bases/${base.id}/documents?status=failed&pageSize=1`)).pagination.total;
    if (failed) throw new Error(`${failed} documents failed to index`);
    let chunks = 0;
    for (let page = 1; ; page++) {
      const listed = await api.get(`/api/v1/knowledge-bases/${base.id}/documents?pageSize=100&page=${page}`);
      chunks += listed.data.reduce((n, d) => n + d.chunkCount, 0);
      if (page >= listed.pagination.totalPages) break;
    }
    log(`    ${docs.length} documents, ${chunks} chunks indexed in ${seconds.toFixed(1)} s`);

    const rounds = { fulltext: [], hybrid: [] };
    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of ['fulltext', 'hybrid']) {
        const samples = [];
        let first = 0;
        for (let i = 0; i < settings.knowledgeQueries; i++) {
          const doc = docs[(i * 7919 + r) % docs.length];
          const began = performance.now();
          const result = (
            await api.call('POST', `/api/v1/knowledge-bases/${base.id}/query`, { query: `${doc.own[2]} ${doc.own[3]} ${doc.common}`, mode })
          ).json();
          samples.push(performance.now() - began);
          if (result.data[0]?.documentName === doc.name) first++;
        }
        const s = summarize(samples);
        rounds[mode].push({ ...s, top1: first / settings.knowledgeQueries });
        log(
          `    round ${r + 1} ${mode}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, top-1 ${((100 * first) / settings.knowledgeQueries).toFixed(1)} %`,
        );
      }
    }
    return { docsPerSecond: docs.length / seconds, chunksPerSecond: chunks / seconds, chunks, rounds };
  } finally {
    await server.stop();
  }
}

export async function run({ settings, log }) {
  const provider = await startProvider(['--tokens', '8']);
  try {
    const targets = [{ label: 'SQLite', database: sqliteDatabase() }];
    if (postgresBaseUrl()) targets.push({ label: 'PostgreSQL', database: await postgresDatabase() });
    const rows = [];
    const details = {};
    for (const { label, database } of targets) {
      log(`  ${label}`);
      // The server drops its database when it stops.
      const m = await measure(database, provider, settings, log);
      details[label] = m;
      const of = (mode, p) => aggregate(m.rounds[mode].map((x) => x[p]));
      rows.push(
        { measure: `${label}: import to indexed`, unit: 'docs/s', median: m.docsPerSecond, spread: 0, rounds: [m.docsPerSecond] },
        { measure: `${label}: import to indexed (${m.chunks} chunks)`, unit: 'chunks/s', median: m.chunksPerSecond, spread: 0, rounds: [m.chunksPerSecond] },
        { measure: `${label}: p50 full-text query`, unit: 'ms', ...of('fulltext', 'p50') },
        { measure: `${label}: p99 full-text query`, unit: 'ms', ...of('fulltext', 'p99') },
        { measure: `${label}: p50 hybrid query`, unit: 'ms', ...of('hybrid', 'p50') },
        { measure: `${label}: p99 hybrid query`, unit: 'ms', ...of('hybrid', 'p99') },
      );
    }
    return { rows, details };
  } finally {
    await provider.stop();
  }
}
