import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, systemClock } from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { REQUEST_ID } from './helpers.js';

/**
 * Requests Node's HTTP parser refuses before the app sees them, sent as raw bytes: each is answered
 * with a complete HTTP/1.1 response carrying a problem, and the connection is closed. The server's
 * header timeout is short here (300 ms) so slow clients are tried without long sleeps.
 */
const HEADERS_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;

let running: InProcessServer;
let port: number;

beforeAll(async () => {
  running = await startInProcessServer(systemClock, {
    HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  });
  port = Number(new URL(running.baseUrl).port);
});
afterAll(async () => {
  await running?.stop();
});

type Exchange = { raw: string; closed: boolean; ms: number };

/** Writes each chunk (waiting `pauseMs` before the next), then reads until the server closes or `waitMs` passes. */
function exchange(chunks: (string | Buffer)[], options: { pauseMs?: number; waitMs?: number } = {}): Promise<Exchange> {
  const { pauseMs = 0, waitMs = 3000 } = options;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw: Buffer.concat(received).toString('latin1'), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => received.push(d));
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? finish(true) : reject(err)));
    const writeChunks = async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        if (!socket.destroyed) socket.write(chunk);
      }
    };
    socket.once('connect', () => {
      writeChunks().catch(reject);
    });
  });
}

/** The last response of the exchange: status line, headers and its problem body. */
function lastProblem(x: Exchange, status: number, code: string) {
  const at = [...x.raw.matchAll(/HTTP\/1\.1 \d{3} [A-Za-z ]+\r\n/g)].at(-1)?.index ?? -1;
  expect(at, x.raw).toBeGreaterThanOrEqual(0);
  const [head, body] = [x.raw.slice(at, x.raw.indexOf('\r\n\r\n', at)), x.raw.slice(x.raw.indexOf('\r\n\r\n', at) + 4)];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  expect(statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Za-z ]+$`));
  expect(headers.get('content-type')).toBe('application/problem+json');
  expect(headers.get('connection')).toBe('close');
  expect(Number(headers.get('content-length'))).toBe(Buffer.byteLength(body, 'latin1'));
  expect(headers.get('request-id')).toMatch(REQUEST_ID);
  const problem = JSON.parse(body) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, code, type: `/api/problems/${code}`, requestId: headers.get('request-id') });
  expect(problem.title).toEqual(expect.any(String));
  expect(problem.detail).toEqual(expect.any(String));
  expect(problem.instance).toMatch(/^\//);
  expect(x.closed).toBe(true);
  return problem;
}

describe('requests the HTTP parser refuses', () => {
  it('answers a body longer than its Content-Length with a 400 problem and closes', async () => {
    const x = await exchange(['GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}this is not a request line\r\n\r\n']);
    lastProblem(x, 400, 'bad-request');
  });

  it('answers bad header bytes with a 400 problem naming the request path', async () => {
    const x = await exchange([Buffer.from('GET /api/v1/agents HTTP/1.1\r\nHost: t\r\nX-Bad: a\u0001b\r\n\r\n', 'latin1')]);
    expect(lastProblem(x, 400, 'bad-request').instance).toBe('/api/v1/agents');
    const name = await exchange(['GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n']);
    lastProblem(name, 400, 'bad-request');
  });

  it('answers an invalid request line with a 400 problem', async () => {
    for (const line of ['NOT HTTP AT ALL\r\n\r\n', 'GET /healthz HTTP/9.9\r\n\r\n', '\u0000\u0001\u0002\r\n\r\n']) {
      const x = await exchange([line]);
      expect(lastProblem(x, 400, 'bad-request').instance, JSON.stringify(line)).toBe(line.startsWith('GET /healthz') ? '/healthz' : '/');
    }
  });

  it('answers headers over the size limit with a 431 problem', async () => {
    const x = await exchange([`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    lastProblem(x, 431, 'request-header-fields-too-large');
  });

  it('still answers a well-formed request on the same server', async () => {
    const x = await exchange(['GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n']);
    expect(x.raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('slow clients', () => {
  it('cuts a client whose headers do not complete in time, with a 408 problem', async () => {
    // One header line every 100 ms, never finished: each byte is on time, the headers as a whole are not.
    const lines = ['GET /healthz HTTP/1.1\r\n', 'Host: t\r\n', ...Array.from({ length: 30 }, (_, i) => `X-Slow-${i}: 1\r\n`)];
    const x = await exchange(lines, { pauseMs: 100, waitMs: 3000 });
    lastProblem(x, 408, 'request-timeout');
    expect(x.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(x.ms).toBeLessThan(HEADERS_TIMEOUT_MS + 1000);
  });

  it('cuts a client whose body does not arrive in time, with a 408 problem', async () => {
    const x = await exchange(['POST /api/v1/agents HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na'], {
      waitMs: 3000,
    });
    lastProblem(x, 408, 'request-timeout');
    expect(x.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 1000);
  });

  it('keeps an idle kept-alive connection open past the headers timeout, for its next request', async () => {
    const request = 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n';
    const x = await exchange([request, request], { pauseMs: HEADERS_TIMEOUT_MS * 2, waitMs: HEADERS_TIMEOUT_MS * 3 });
    expect(x.raw.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });
});

describe('the limits are configuration', () => {
  it('defaults to 10 s for headers, 60 s for a whole request and 65 s for idle connections', () => {
    expect(loadConfig({}).http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000 });
  });

  it('refuses values out of range, and a request timeout shorter than the headers timeout', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '0' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
    expect(() => loadConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: 'soon' })).toThrow(/HTTP_KEEP_ALIVE_TIMEOUT_MS/);
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '15000' })).toThrow(ConfigError);
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '15000' })).toThrow(/HTTP_REQUEST_TIMEOUT_MS: must be at least/);
  });
});
