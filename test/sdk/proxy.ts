import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One request the proxy received. */
export type Seen = {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  lastEventId: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
};

/** What the proxy does with one request. */
export type Action =
  /** Pass it to the real server and its answer back. */
  | { kind: 'forward' }
  /** Answer it here. */
  | { kind: 'respond'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Destroy the client's connection without answering (the real server never sees the request). */
  | { kind: 'destroy' }
  /** Pass it to the real server, wait for its answer, then destroy the client's connection instead of answering. */
  | { kind: 'forward-then-destroy'; onForwarded?: (status: number) => void }
  /** Never answer. */
  | { kind: 'hang' }
  /** Hold the request until `until` resolves, then forward it. */
  | { kind: 'delay'; until: Promise<unknown> }
  /** Forward an SSE stream message by message, and destroy the client's connection after `events` events (messages with an id). */
  | { kind: 'cut-sse'; events: number; onCut?: () => void };

export type Proxy = { url: string; seen: Seen[]; count: (filter?: (s: Seen) => boolean) => number; close(): Promise<void> };

export const problem = (status: number, code: string, extra: Record<string, unknown> = {}) => ({
  type: `/api/problems/${code}`,
  title: code,
  status,
  detail: `The proxy answered ${status} ${code}.`,
  instance: '/',
  code,
  requestId: 'req_01jd4x7p2kf8q6v3b9m5t0s1ab',
  ...extra,
});

/** Answers 429 rate-limited with Retry-After (seconds). */
export const rateLimited = (retryAfter = 1): Action => ({
  kind: 'respond',
  status: 429,
  headers: { 'Retry-After': String(retryAfter), 'Request-Id': 'req_01jd4x7p2kf8q6v3b9m5t0s1ab' },
  body: problem(429, 'rate-limited'),
});

/** Answers 503 with a problem (and Retry-After when given). */
export const unavailable = (retryAfter?: number): Action => ({
  kind: 'respond',
  status: 503,
  headers: { 'Request-Id': 'req_01jd4x7p2kf8q6v3b9m5t0s1ab', ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}) },
  body: problem(503, 'service-unavailable'),
});

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'host']);

const stripHopByHop = (headers: IncomingHttpHeaders) => {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
};

/**
 * A node:http proxy on 127.0.0.1 in front of the real server: `decide` chooses, request by request
 * (0-based `index`), to forward it, answer it itself, drop the connection or never answer; every
 * request is recorded.
 */
export async function startProxy(upstream: string, decide: (seen: Seen, index: number) => Action = () => ({ kind: 'forward' })): Promise<Proxy> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const target = new URL(upstream);

  const forward = (req: IncomingMessage, body: Buffer, onResponse: (upstreamRes: IncomingMessage) => void, onError: (err: Error) => void) => {
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...stripHopByHop(req.headers), host: target.host } },
      onResponse,
    );
    up.on('error', onError);
    up.end(body);
    return up;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const entry: Seen = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      idempotencyKey: header('idempotency-key'),
      lastEventId: header('last-event-id'),
      headers: req.headers,
      body: body.toString('utf8'),
    };
    const index = seen.length;
    seen.push(entry);
    const action = decide(entry, index);
    const fail = () => res.socket?.destroy();

    switch (action.kind) {
      case 'respond': {
        const payload = action.body === undefined ? '' : JSON.stringify(action.body);
        res.writeHead(action.status, {
          ...(action.body === undefined ? {} : { 'Content-Type': 'application/problem+json' }),
          ...action.headers,
        });
        res.end(payload);
        return;
      }
      case 'destroy':
        req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'delay':
        void action.until.then(() => handle2({ kind: 'forward' }));
        return;
      default:
        handle2(action);
    }

    function handle2(a: Action) {
      if (a.kind === 'forward') {
        const up = forward(
          req,
          body,
          (ures) => {
            res.writeHead(ures.statusCode ?? 502, stripHopByHop(ures.headers));
            ures.pipe(res);
          },
          fail,
        );
        res.on('close', () => up.destroy());
      } else if (a.kind === 'forward-then-destroy') {
        forward(
          req,
          body,
          (ures) => {
            ures.resume();
            ures.on('end', () => {
              a.onForwarded?.(ures.statusCode ?? 0);
              req.socket.destroy();
            });
          },
          fail,
        );
      } else if (a.kind === 'cut-sse') {
        let events = 0;
        let buffer = '';
        let cut = false;
        const up = forward(
          req,
          body,
          (ures) => {
            res.writeHead(ures.statusCode ?? 502, stripHopByHop(ures.headers));
            res.flushHeaders();
            ures.setEncoding('utf8');
            ures.on('data', (chunk: string) => {
              if (cut) return;
              buffer += chunk;
              for (;;) {
                const end = buffer.search(/\r?\n\r?\n/);
                if (end < 0) break;
                const separator = /\r?\n\r?\n/.exec(buffer.slice(end))![0];
                const message = buffer.slice(0, end + separator.length);
                buffer = buffer.slice(end + separator.length);
                if (/^id:/m.test(message) && ++events >= a.events) {
                  cut = true;
                  // Let the last message leave before the connection goes.
                  res.write(message, () => {
                    res.socket?.destroy();
                    up.destroy();
                    a.onCut?.();
                  });
                  return;
                }
                res.write(message);
              }
            });
            ures.on('end', () => {
              if (!cut) res.end(buffer);
            });
          },
          fail,
        );
        res.on('close', () => up.destroy());
      }
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    count: (filter = () => true) => seen.filter(filter).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
