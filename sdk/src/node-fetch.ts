import http from 'node:http';
import https from 'node:https';
import { Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/**
 * The Node client's default fetch: node:http with keep-alive agents (as Stripe's Node SDK uses).
 * A small call through the global fetch cost the client about 400 us of CPU in our benchmark, this
 * about 230. Event streams stay streams, other bodies are read whole; redirects, and bodies other
 * than text and bytes, go to the global fetch.
 */
const agents: Record<string, http.Agent> = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([204, 205, 304]);

const decoders: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const sendable = (body: unknown): body is string | ArrayBuffer | ArrayBufferView | null | undefined =>
  body === undefined || body === null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body);

const toBuffer = (body: string | ArrayBuffer | ArrayBufferView) =>
  typeof body === 'string' ? Buffer.from(body) : body instanceof ArrayBuffer ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);

/**
 * A response whose body was read whole. undici's Response reads even a finished body through a web
 * stream, which cost more than the rest of a call; this one answers from the buffer. It is a
 * Response to `instanceof`, and becomes a real one behind the scenes if its `body` stream is asked for.
 */
class BufferedResponse {
  readonly type = 'basic';
  readonly redirected = false;
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  #buffer: Buffer | null;
  #used = false;
  #real: Response | undefined;

  constructor(buffer: Buffer | null, meta: ResponseInit & { status: number; headers: Headers }, url: string) {
    this.#buffer = buffer;
    this.status = meta.status;
    this.statusText = meta.statusText ?? '';
    this.headers = meta.headers;
    this.url = url;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  get bodyUsed() {
    return this.#real ? this.#real.bodyUsed : this.#used;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.#buffer && this.#response().body;
  }
  #response(): Response {
    return (this.#real ??= new Response(this.#used ? null : (this.#buffer as unknown as BodyInit | null), {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
    }));
  }
  #consume(): Buffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#buffer ?? Buffer.alloc(0);
  }
  async text(): Promise<string> {
    return this.#real ? this.#real.text() : this.#consume().toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real) return this.#real.arrayBuffer();
    const bytes = this.#consume();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }
  async blob(): Promise<Blob> {
    return this.#response().blob();
  }
  async formData(): Promise<FormData> {
    return this.#response().formData();
  }
  clone(): Response {
    if (this.#real) return this.#real.clone();
    if (this.#used) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(
      this.#buffer,
      { status: this.status, statusText: this.statusText, headers: new Headers(this.headers) },
      this.url,
    ) as unknown as Response;
  }
}
Object.setPrototypeOf(BufferedResponse.prototype, Response.prototype);

/** Request headers as node:http takes them, from any form fetch accepts. */
function headerRecord(init: HeadersInit | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (init instanceof Headers) init.forEach((value, name) => (headers[name] = value));
  else if (Array.isArray(init)) for (const [name, value] of init) headers[name.toLowerCase()] = value!;
  else if (init) for (const [name, value] of Object.entries(init)) headers[name.toLowerCase()] = value;
  return headers;
}

export const nodeFetch: typeof fetch = (input, init = {}) => {
  if (input instanceof Request || !sendable(init.body)) return globalThis.fetch(input, init);
  const url = new URL(String(input));
  const agent = agents[url.protocol];
  if (!agent) return globalThis.fetch(input, init);
  const { signal } = init;
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- like fetch, an abort rejects with the signal's reason, whatever the caller aborted with
  if (signal?.aborted) return Promise.reject(signal.reason);

  const headers = headerRecord(init.headers);
  headers['accept-encoding'] ??= 'gzip, deflate, br';
  const body = init.body == null ? undefined : toBuffer(init.body);
  const method = (init.method ?? 'GET').toUpperCase();

  return new Promise<Response>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent });
    const onAbort = () => {
      request.destroy(signal!.reason as Error);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- like fetch: the signal's reason
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    request.on('error', (err) => {
      done();
      reject(new TypeError('fetch failed', { cause: err }));
    });
    request.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status) && res.headers.location && init.redirect !== 'manual') {
        res.resume();
        done();
        resolve(globalThis.fetch(input, init));
        return;
      }
      const responseHeaders = new Headers();
      for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      const meta = { status, statusText: res.statusMessage, headers: responseHeaders };
      if (NULL_BODY.has(status) || method === 'HEAD') {
        res.resume();
        done();
        resolve(new BufferedResponse(null, meta, url.href) as unknown as Response);
        return;
      }
      const decode = decoders[(res.headers['content-encoding'] ?? '').toLowerCase()];
      const content: Readable = decode ? res.pipe(decode()) : res;
      if (decode) res.on('error', (err) => content.destroy(err));
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        // Aborting later must still end the stream the caller reads.
        signal?.removeEventListener('abort', onAbort);
        signal?.addEventListener('abort', () => res.destroy(signal.reason as Error), { once: true });
        resolve(new Response(Readable.toWeb(content) as ReadableStream, meta));
        return;
      }
      const chunks: Buffer[] = [];
      content.on('data', (chunk: Buffer) => chunks.push(chunk));
      content.on('error', (err) => {
        done();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- like fetch: the signal's reason once aborted
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
      });
      content.on('end', () => {
        done();
        resolve(new BufferedResponse(Buffer.concat(chunks), meta, url.href) as unknown as Response);
      });
    });
    request.end(body);
  });
};
