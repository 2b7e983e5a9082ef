import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from './gateway-helpers.js';
import {
  allSettled,
  contentOf,
  createBase,
  expectCitable,
  importMarkdown,
  query,
  settled,
  type KnowledgeChunk,
  type KnowledgeDocument,
} from './knowledge-helpers.js';
import { call, expectProblem, type Conn } from './run-helpers.js';
import { postForm } from './transcription-helpers.js';

let gateway: Gateway;
let conn: Conn;

beforeAll(async () => {
  gateway = await startGateway({ KNOWLEDGE_INTERVAL_MS: '200', WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' });
  conn = gateway.conn;
  // Events are recorded for endpoints only: one that takes the knowledge family (its deliveries fail, which does not matter here).
  const endpoint = await call(conn, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['knowledge_document.*'] });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
});
afterAll(async () => gateway.stop());

const REFUNDS = `# Refunds

A refund is paid back to the original card within five business days.

## Exceptions

Gift cards are never refunded; the balance stays on the card.

\`\`\`sh
curl -X POST /refunds
\`\`\`
`;

const events = async (documentId: string) =>
  (await gateway.db<{ event_type: string; payload: string }>('webhook_messages').select('event_type', 'payload'))
    .filter((m) => (JSON.parse(m.payload) as { data: { id: string } }).data.id === documentId)
    .map((m) => m.event_type);

describe('knowledge documents', () => {
  it('are imported, indexed into chunks that are slices of their text, found by their words, and cited by offsets', async () => {
    const base = await createBase(conn, { chunking: { maxTokens: 32, overlapTokens: 4 } });
    const created = await call<KnowledgeDocument>(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/documents`, {
      name: 'Refunds',
      markdown: REFUNDS,
      metadata: { lang: 'en', year: 2026, public: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body).toMatchObject({
      object: 'knowledge_document',
      status: 'queued',
      version: 0,
      chunkCount: 0,
      source: { type: 'markdown' },
      bytes: Buffer.byteLength(REFUNDS),
    });
    expect(created.body.id).toMatch(/^doc_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(created.headers.get('location')).toBe(`/api/v1/knowledge-bases/${base.id}/documents/${created.body.id}`);

    const doc = await settled(conn, created.body);
    expect(doc).toMatchObject({ status: 'indexed', version: 1, error: null });
    expect(doc.chunkCount).toBeGreaterThanOrEqual(2);
    expect(await events(doc.id)).toEqual(['knowledge_document.indexed']);

    const content = await contentOf(conn, doc);
    expect(content).toBe(REFUNDS);
    const chunks = (await call<{ data: KnowledgeChunk[] }>(conn, 'GET', `/api/v1/knowledge-bases/${base.id}/documents/${doc.id}/chunks?pageSize=100`)).body
      .data;
    expect(chunks.map((c) => c.position)).toEqual(chunks.map((_, i) => i));
    for (const chunk of chunks) expect(content.slice(chunk.charStart, chunk.charEnd)).toBe(chunk.text);
    const fence = chunks.find((c) => c.text.includes('```sh'))!;
    expect(fence.text).toContain('curl -X POST /refunds\n```');
    expect(fence.headingPath).toEqual(['Refunds', 'Exceptions']);

    const found = await query(conn, base.id, { query: 'when are gift cards refunded?' });
    expect(found.mode).toBe('fulltext');
    const top = found.data[0]!;
    expect(top).toMatchObject({
      rank: 1,
      score: 1,
      documentId: doc.id,
      documentName: 'Refunds',
      documentVersion: 1,
      metadata: { lang: 'en', year: 2026, public: true },
    });
    expect(top.headingPath).toEqual(['Refunds', 'Exceptions']);
    expect(top.scoreDetail.fulltext).toMatchObject({ rank: 1, normalized: 1 });
    expect(top.scoreDetail.fulltext!.raw).toBeGreaterThan(0);
    expect(top.scoreDetail.vector).toBeNull();
    expectCitable(top, content);
    // Stemmed: "refunded" in the query matches "refunded" and "refund"; every highlight is one of the query's words as the text has it.
    const marked = top.highlights.map((h) => content.slice(h.start, h.end).toLowerCase());
    expect(marked).toEqual(expect.arrayContaining(['gift', 'cards', 'refunded']));
    for (const word of marked) expect(['gift', 'cards', 'card', 'refunded', 'refund', 'refunds']).toContain(word);

    // The same content again is the same document; nothing new is queued.
    const again = await call<KnowledgeDocument>(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/documents`, { name: 'Copy', markdown: REFUNDS });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: doc.id, name: 'Refunds', status: 'indexed' });
  });

  it('filters queries and lists by metadata: eq, ne, in, nin, ranges, exists', async () => {
    const base = await createBase(conn);
    const docs = await Promise.all([
      importMarkdown(conn, base.id, 'en-2024', 'Shipping takes two days.', { lang: 'en', year: 2024, reviewed: '2024-03-01' }),
      importMarkdown(conn, base.id, 'en-2026', 'Shipping takes one day now.', { lang: 'en', year: 2026, draft: true }),
      importMarkdown(conn, base.id, 'fr-2025', 'Shipping: la livraison prend deux jours.', { lang: 'fr', year: 2025, reviewed: '2025-11-20' }),
    ]);
    await allSettled(conn, base.id);
    const names = async (filter: Record<string, unknown>) =>
      (await query(conn, base.id, { query: 'shipping', topK: 10, filter })).data.map((h) => h.documentName).sort();
    expect(await names({})).toEqual(['en-2024', 'en-2026', 'fr-2025']);
    expect(await names({ lang: 'en' })).toEqual(['en-2024', 'en-2026']);
    expect(await names({ lang: { ne: 'en' } })).toEqual(['fr-2025']);
    expect(await names({ year: { in: [2024, 2025] } })).toEqual(['en-2024', 'fr-2025']);
    expect(await names({ year: { nin: [2024] } })).toEqual(['en-2026', 'fr-2025']);
    expect(await names({ year: { gte: 2025, lt: 2026 } })).toEqual(['fr-2025']);
    expect(await names({ reviewed: { gt: '2024-12-31' } })).toEqual(['fr-2025']);
    expect(await names({ draft: { exists: true } })).toEqual(['en-2026']);
    expect(await names({ draft: { exists: false }, lang: 'en' })).toEqual(['en-2024']);
    expect(await names({ draft: true })).toEqual(['en-2026']);
    // A number is not its string: 2024 and "2024" are different values.
    expect(await names({ year: '2024' })).toEqual([]);

    const listed = async (qs: string) =>
      (await call<{ data: KnowledgeDocument[] }>(conn, 'GET', `/api/v1/knowledge-bases/${base.id}/documents?${qs}`)).body.data.map((d) => d.name).sort();
    expect(await listed('metadata=lang:en')).toEqual(['en-2024', 'en-2026']);
    expect(await listed('metadata=lang:en&metadata=year:2026')).toEqual(['en-2026']);
    expect(await listed('status=indexed')).toHaveLength(3);
    expect(docs).toHaveLength(3);
  });

  it('replaces a document atomically: every query during the swap finds one version whole, never none', async () => {
    const base = await createBase(conn);
    const doc = await settled(conn, await importMarkdown(conn, base.id, 'Policy', '# Policy\n\nThe returns window is alpha days long.'));
    const seen = new Set<number>();
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const hits = (await query(conn, base.id, { query: 'returns window' })).data;
        expect(hits).toHaveLength(1);
        seen.add(hits[0]!.documentVersion);
      }
    })();
    const replaced = await call<KnowledgeDocument>(conn, 'PUT', `/api/v1/knowledge-bases/${base.id}/documents/${doc.id}`, {
      name: 'Policy v2',
      markdown: '# Policy\n\nThe returns window is beta days long, and longer at Christmas.',
    });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(202);
    expect(replaced.body).toMatchObject({ status: 'queued', version: 1, name: 'Policy v2' });
    const after = await settled(conn, doc);
    stop = true;
    await watcher;
    expect(after).toMatchObject({ status: 'indexed', version: 2 });
    expect([...seen].every((v) => v === 1 || v === 2)).toBe(true);
    expect((await query(conn, base.id, { query: 'alpha' })).data).toHaveLength(0);
    expect((await query(conn, base.id, { query: 'christmas' })).data[0]).toMatchObject({ documentId: doc.id, documentVersion: 2 });

    // The same content: only the name and metadata change, nothing is indexed again.
    const renamed = await call<KnowledgeDocument>(conn, 'PUT', `/api/v1/knowledge-bases/${base.id}/documents/${doc.id}`, {
      name: 'Policy (current)',
      markdown: '# Policy\n\nThe returns window is beta days long, and longer at Christmas.',
      metadata: { lang: 'en' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ status: 'indexed', version: 2, name: 'Policy (current)', metadata: { lang: 'en' } });
    // Content another document holds is refused.
    const other = await settled(conn, await importMarkdown(conn, base.id, 'Other', 'Something else entirely.'));
    expectProblem(
      await call(conn, 'PUT', `/api/v1/knowledge-bases/${base.id}/documents/${other.id}`, {
        name: 'x',
        markdown: '# Policy\n\nThe returns window is beta days long, and longer at Christmas.',
      }),
      409,
      'conflict',
      doc.id,
    );
    // A stale ETag is refused.
    expectProblem(
      await call(conn, 'DELETE', `/api/v1/knowledge-bases/${base.id}/documents/${doc.id}`, undefined, { 'If-Match': '"stale"' }),
      412,
      'precondition-failed',
    );
    expect((await call(conn, 'DELETE', `/api/v1/knowledge-bases/${base.id}/documents/${doc.id}`)).status).toBe(204);
    expect((await query(conn, base.id, { query: 'christmas' })).data).toHaveLength(0);
    expect(await gateway.db('knowledge_chunks').where({ document_id: doc.id }).select('id')).toEqual([]);
  });

  it('uploads files: HTML is indexed as Markdown, a PDF as its text, an unknown binary is 415, a corrupt PDF fails with a clear error', async () => {
    const base = await createBase(conn);
    const html = '<html><head><script>alert(1)</script></head><body><h1>Warranty</h1><p>Two years on every kettle.</p></body></html>';
    const form = new FormData();
    form.append('metadata', JSON.stringify({ lang: 'en' }));
    form.append('file', new Blob([html], { type: 'text/html' }), 'warranty.html');
    const uploaded = await postForm<KnowledgeDocument>(conn, `/api/v1/knowledge-bases/${base.id}/documents`, form);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(202);
    expect(uploaded.body).toMatchObject({
      name: 'warranty.html',
      source: { type: 'file', filename: 'warranty.html', mediaType: 'text/html' },
      metadata: { lang: 'en' },
    });
    const doc = await settled(conn, uploaded.body);
    expect(doc.status).toBe('indexed');
    const content = await contentOf(conn, doc);
    expect(content).toContain('# Warranty');
    expect(content).not.toContain('alert');
    const hit = (await query(conn, base.id, { query: 'kettle warranty' })).data[0]!;
    expect(hit.headingPath).toEqual(['Warranty']);
    expectCitable(hit, content);

    // The built server reads a PDF in a worker thread started from its compiled file.
    const care = await PDFDocument.create();
    care.addPage().drawText('Descale the kettle every month.', { x: 50, y: 700, font: await care.embedFont(StandardFonts.Helvetica), size: 12 });
    const pdfForm = new FormData();
    pdfForm.append('file', new Blob([new Uint8Array(await care.save())], { type: 'application/pdf' }), 'care.pdf');
    const pdfUpload = await postForm<KnowledgeDocument>(conn, `/api/v1/knowledge-bases/${base.id}/documents`, pdfForm);
    expect(pdfUpload.status, JSON.stringify(pdfUpload.body)).toBe(202);
    const pdfDoc = await settled(conn, pdfUpload.body);
    expect(pdfDoc).toMatchObject({ status: 'indexed', error: null });
    expect(await contentOf(conn, pdfDoc)).toBe('Descale the kettle every month.');

    const binary = new FormData();
    binary.append('file', new Blob([new Uint8Array([0, 1, 2, 3, 0, 255, 254, 0])], { type: 'application/octet-stream' }), 'blob.bin');
    expectProblem(await postForm(conn, `/api/v1/knowledge-bases/${base.id}/documents`, binary), 415, 'unsupported-media-type');

    const pdf = new FormData();
    pdf.append('file', new Blob(['%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage'], { type: 'application/pdf' }), 'broken.pdf');
    const broken = await postForm<KnowledgeDocument>(conn, `/api/v1/knowledge-bases/${base.id}/documents`, pdf);
    expect(broken.status, JSON.stringify(broken.body)).toBe(202);
    const failed = await settled(conn, broken.body);
    expect(failed).toMatchObject({
      status: 'failed',
      version: 0,
      error: { code: 'unparseable', message: 'The PDF could not be read: the file is damaged or incomplete.' },
    });
    expect(failed.error!.message).not.toMatch(/\/work|node_modules|at .*\(/);
    expect(await events(failed.id)).toEqual(['knowledge_document.failed']);
    expectProblem(await call(conn, 'GET', `/api/v1/knowledge-bases/${base.id}/documents/${failed.id}/content`), 409, 'invalid-transition');
  });

  it('refuses bad imports and queries with clear problems', async () => {
    const base = await createBase(conn);
    const path = `/api/v1/knowledge-bases/${base.id}/documents`;
    expectProblem(await call(conn, 'POST', path, { name: 'both', text: 'a', markdown: 'b' }), 422, 'validation-error', 'exactly one');
    expectProblem(await call(conn, 'POST', path, { name: 'none' }), 422, 'validation-error', 'exactly one');
    expectProblem(await call(conn, 'POST', path, { name: 'x', text: 'a', metadata: { nested: { a: 1 } } }), 422, 'validation-error');
    expectProblem(await call(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/query`, { query: 'x', mode: 'vector' }), 422, 'embedding-not-configured');
    expect((await query(conn, base.id, { query: 'anything', mode: 'hybrid' })).mode).toBe('fulltext');
    expectProblem(
      await call(conn, 'POST', `/api/v1/knowledge-bases/${base.id}/query`, { query: 'x', filter: { year: { gt: true } } }),
      422,
      'validation-error',
    );
    expectProblem(
      await call(conn, 'POST', '/api/v1/knowledge/query', { knowledgeBaseIds: [base.id, 'kb_01jd4x7p2kf8q6v3b9m5t0s1ab'], query: 'x' }),
      404,
      'not-found',
      'kb_01jd4x7p2kf8q6v3b9m5t0s1ab',
    );
    // Only stop words: nothing to match, and no error.
    expect((await query(conn, base.id, { query: 'the and of' })).data).toEqual([]);
    // Query syntax of either database is only words here.
    expect((await query(conn, base.id, { query: '"unbalanced AND ( NEAR* -x :* | !' })).data).toEqual([]);
  });
});
