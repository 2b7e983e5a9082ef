import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../sdk/src/node-fetch.js';

// The Node client's default fetch, against a loopback server that answers in every way it must handle.
let server: Server;
let base: string;
const received: { method: string; headers: IncomingMessage['headers']; body: string }[] = [];

function handle(req: IncomingMessage, res: ServerResponse, body: string) {
  received.push({ method: req.method!, headers: req.headers, body });
  const path = req.url!;
  if (path === '/json') {
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ hello: 'world', echo: body }));
  } else if (path === '/gzip') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    res.end(gzipSync(JSON.stringify({ compressed: true })));
  } else if (path === '/redirect') {
    res.writeHead(307, { Location: '/json' });
    res.end();
  } else if (path === '/empty') {
    res.writeHead(204);
    res.end();
  } else if (path === '/slow') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"partial":');
  } else if (path === '/events') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('id: 1\ndata: {}\n\n');
  } else if (path === '/cut') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
    res.write('{"cut');
    setTimeout(() => res.socket?.destroy(), 20);
  } else {
    res.writeHead(404);
    res.end();
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('nodeFetch (the Node client default)', () => {
  it('sends the method, headers and body, and answers with a Response', async () => {
    const res = await nodeFetch(`${base}/json`, { method: 'POST', headers: new Headers({ 'X-Test': 'yes', 'Content-Type': 'text/plain' }), body: 'héllo' });
    expect(res).toBeInstanceOf(Response);
    expect(res.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const copy = res.clone();
    expect(await res.json()).toEqual({ hello: 'world', echo: 'héllo' });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(TypeError);
    expect(await copy.text()).toBe(JSON.stringify({ hello: 'world', echo: 'héllo' }));
    const last = received.at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.headers['x-test']).toBe('yes');
    expect(last.body).toBe('héllo');
  });

  it('takes headers as a record or as pairs, and sends bytes as they are', async () => {
    await nodeFetch(`${base}/json`, { method: 'PUT', headers: { 'X-Record': '1' }, body: new Uint8Array([104, 105]) });
    expect(received.at(-1)).toMatchObject({ method: 'PUT', body: 'hi', headers: { 'x-record': '1' } });
    await nodeFetch(`${base}/json`, { headers: [['X-Pair', '2']] });
    expect(received.at(-1)!.headers['x-pair']).toBe('2');
  });

  it('offers compression and decodes a compressed body', async () => {
    const res = await nodeFetch(`${base}/gzip`);
    expect(received.at(-1)!.headers['accept-encoding']).toContain('gzip');
    expect(await res.json()).toEqual({ compressed: true });
  });

  it('follows a redirect, and leaves it alone with redirect: manual', async () => {
    const followed = await nodeFetch(`${base}/redirect`);
    expect(followed.status).toBe(200);
    expect(((await followed.json()) as { hello: string }).hello).toBe('world');
    const manual = await nodeFetch(`${base}/redirect`, { redirect: 'manual' });
    expect(manual.status).toBe(307);
    expect(manual.headers.get('location')).toBe('/json');
  });

  it('gives a 204 a null body', async () => {
    const res = await nodeFetch(`${base}/empty`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(await res.text()).toBe('');
  });

  it('rejects with the signal reason when aborted before or while the body is read', async () => {
    const before = new AbortController();
    before.abort(new Error('not even started'));
    await expect(nodeFetch(`${base}/json`, { signal: before.signal })).rejects.toThrow('not even started');

    const during = new AbortController();
    const pending = nodeFetch(`${base}/slow`, { signal: during.signal });
    setTimeout(() => during.abort(new Error('gave up')), 50);
    await expect(pending).rejects.toThrow('gave up');
  });

  it('streams an event stream, and ends it when the signal aborts', async () => {
    const controller = new AbortController();
    const res = await nodeFetch(`${base}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('id: 1');
    controller.abort(new Error('stop'));
    await expect(reader.read()).rejects.toThrow('stop');
  });

  it('fails like fetch when the connection is refused or cut mid-body', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await nodeFetch(`http://127.0.0.1:${port}/`).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).message).toBe('fetch failed');

    const cut = await nodeFetch(`${base}/cut`).catch((err: unknown) => err);
    expect(cut).toBeInstanceOf(TypeError);
    expect((cut as TypeError).message).toBe('fetch failed');
  });
});
