import http from 'node:http';
import https from 'node:https';
import type { guardedAgents } from '../../security/addresses.js';
import { parseRetryAfter } from '../../util/retry-after.js';

/** What one attempt got: a status (any response), or an error (none came). */
export type Outcome = {
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  /** The receiver's Retry-After, when it sent a usable one. */
  retryAfterMs: number | null;
  durationMs: number;
};

const RESPONSE_BODY_CHARS = 1024;
const MAX_ERROR_CHARS = 500;

/** Control characters other than tab, line feed and carriage return become U+FFFD: what is stored is shown as text. */
// eslint-disable-next-line no-control-regex -- the class names the control characters to replace
const printable = (text: string) => text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '\ufffd');

function describe(err: Error & { code?: string }): string {
  return printable(explain(err)).slice(0, MAX_ERROR_CHARS);
}

function explain(err: Error & { code?: string }): string {
  if (/is not allowed/.test(err.message)) return `address not allowed: ${err.message}`;
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `name not resolved: ${err.message}`;
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/**
 * POSTs one delivery through the guarded agents. Redirects are not followed (a 3xx is just an
 * answer), the whole exchange must finish within `timeoutMs`, and only the start of the answer is
 * read: a receiver cannot make the server hold a large body.
 */
export function send(
  url: string,
  body: string,
  headers: Record<string, string>,
  agents: ReturnType<typeof guardedAgents>,
  timeoutMs: number,
  nowMs: number,
  signal: AbortSignal,
): Promise<Outcome> {
  const target = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<Outcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, durationMs: Math.round(performance.now() - started) });
    };
    const protocol = target.protocol === 'https:' ? https : http;
    const request = protocol.request(
      target,
      {
        method: 'POST',
        signal,
        agent: agents[target.protocol as 'http:' | 'https:'],
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (response) => {
        const statusCode = response.statusCode ?? null;
        const retryAfterMs = parseRetryAfter(response.headers['retry-after'], nowMs);
        let text = '';
        const done = () => {
          finish({ statusCode, error: null, responseBody: printable(text.slice(0, RESPONSE_BODY_CHARS)) || null, retryAfterMs });
          response.destroy();
        };
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          if (text.length >= RESPONSE_BODY_CHARS) done();
        });
        response.on('end', done);
        response.on('error', done);
        response.on('close', done);
      },
    );
    const timer = setTimeout(() => request.destroy(new Error(`timeout: no complete answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('error', (err) => finish({ statusCode: null, error: describe(err), responseBody: null, retryAfterMs: null }));
    request.end(body);
  });
}
