import { request } from 'node:http';
import type { FuzzRequest } from './requests.js';

export type FuzzResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** How long one case may take before it counts as a hang. */
const TIMEOUT_MS = 15_000;

/**
 * Sends the request as written (raw bytes, repeated headers, no normalization). An event stream is
 * closed once its headers arrived: what follows is the stream suites' subject.
 */
export function send(baseUrl: string, req: FuzzRequest): Promise<FuzzResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, method: req.method, path: req.path, timeout: TIMEOUT_MS }, (res) => {
      const headers = res.headers;
      if (res.statusCode === 200 && String(headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: 200, headers, body: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`no complete response within ${TIMEOUT_MS} ms`)));
    r.on('error', reject);
    for (const [name, value] of group(req.headers)) r.setHeader(name, value);
    if (req.body !== undefined) r.setHeader('Content-Length', Buffer.byteLength(req.body));
    r.end(req.body);
  });
}

/** Repeated headers are sent as repeated lines. */
function group(headers: [string, string][]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of headers) out.set(name, [...(out.get(name) ?? []), value]);
  return out;
}

/** The request as a reader can replay it: method, path, headers and the start of the body. */
export function describeRequest(req: FuzzRequest): string {
  const body =
    req.body === undefined
      ? '(no body)'
      : Buffer.isBuffer(req.body)
        ? `(bytes) ${req.body.subarray(0, 200).toString('hex')}`
        : JSON.stringify(req.body.slice(0, 300));
  const size = req.body === undefined ? '' : ` [${Buffer.byteLength(req.body)} bytes]`;
  return [`${req.method} ${req.path.slice(0, 500)}`, ...req.headers.map(([k, v]) => `${k}: ${v.slice(0, 200)}`), `body${size}: ${body}`].join('\n  ');
}
