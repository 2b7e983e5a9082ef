import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { contractCheckedFetch } from '../support/client.js';

type Raw = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };

/** node:http does not decompress: the test sees the bytes as sent. */
function get(path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${inject('serverUrl')}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const decoded = (r: Raw) =>
  r.headers['content-encoding'] === 'br' ? brotliDecompressSync(r.body) : r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;

const documents = ['/api/openapi.json', '/api/openapi.yaml', '/api/docs', '/api/docs/swagger-ui-bundle.js', '/api/docs/swagger-ui.css'];
// The Swagger UI page itself is under 1 KiB: compressing it would gain nothing.
const compressed = documents.filter((path) => path !== '/api/docs');

describe('the OpenAPI document and Swagger UI over HTTP', () => {
  it.each(compressed)('%s is compressed as Accept-Encoding allows, the same document every way', async (path) => {
    const identity = await get(path, { 'Accept-Encoding': 'identity' });
    expect(identity.status).toBe(200);
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.headers.vary).toMatch(/Accept-Encoding/);
    for (const encoding of ['br', 'gzip']) {
      const r = await get(path, { 'Accept-Encoding': encoding });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe(encoding);
      expect(r.headers.vary).toMatch(/Accept-Encoding/);
      expect(r.body.length).toBeLessThan(identity.body.length / 2);
      expect(decoded(r).equals(identity.body)).toBe(true);
    }
    // Preferences: br wins over gzip when both are accepted.
    expect((await get(path, { 'Accept-Encoding': 'gzip, deflate, br' })).headers['content-encoding']).toBe('br');
  });

  it('does not compress what gains nothing (a PNG, the small page)', async () => {
    for (const path of ['/api/docs/favicon-32x32.png', '/api/docs']) {
      const r = await get(path, { 'Accept-Encoding': 'gzip, br' });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.headers.vary).toMatch(/Accept-Encoding/);
    }
  });

  it.each(documents)('%s carries a weak ETag and answers If-None-Match with 304 and no body', async (path) => {
    const first = await get(path, { 'Accept-Encoding': 'gzip' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{27}"$/);
    // The same tag whatever the encoding: it names the document, not its bytes.
    expect((await get(path, { 'Accept-Encoding': 'br' })).headers.etag).toBe(etag);
    const again = await get(path, { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(etag);
    expect(again.headers['cache-control']).toBe(first.headers['cache-control']);
    const other = await get(path, { 'If-None-Match': 'W/"another"' });
    expect(other.status).toBe(200);
  });

  it('lets browsers keep the assets for a day and revalidate the documents every time', async () => {
    expect((await get('/api/docs/swagger-ui-bundle.js')).headers['cache-control']).toBe('public, max-age=86400');
    for (const path of ['/api/openapi.json', '/api/openapi.yaml', '/api/docs']) expect((await get(path)).headers['cache-control']).toBe('no-cache');
  });

  it('declares what it sends, 304 included (checked by a Prism proxy)', async () => {
    for (const path of documents) {
      const first = await contractCheckedFetch(`${inject('auditUrl')}${path}`);
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      const again = await contractCheckedFetch(`${inject('auditUrl')}${path}`, { headers: { 'If-None-Match': first.headers.get('etag')! } });
      expect(again.status, path).toBe(304);
    }
  });
});
