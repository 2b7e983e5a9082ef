import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  AuthenticationError,
  InternalServerError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionDeniedError,
  PreconditionFailedError,
  RateLimitError,
  Switchboard,
  SwitchboardError,
  ValidationError,
} from '@switchboard/sdk';
import { freePort } from '../support/ports.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { absent, ownApp, REQUEST_ID, token, uniqueName } from './helpers.js';

let serverUrl: string;
let key: string;
/** The Request-Id header of every response the SDK received, in order. */
const received: (string | null)[] = [];
let sb: Switchboard;

/** A client that records the Request-Id of every response it receives, seen from below the SDK. */
const recording = (apiKey: string, baseUrl = serverUrl, extra: { maxRetries?: number } = {}) =>
  new Switchboard({
    baseUrl,
    apiKey,
    ...extra,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      received.push(res.headers.get('request-id'));
      return res;
    },
  });

beforeAll(async () => {
  const app = await ownApp('sdk errors');
  serverUrl = app.serverUrl;
  key = app.key;
  sb = recording(key);
});

/** Runs `call`, expects it to throw `Kind`, and checks what every SwitchboardError carries. */
async function failure<E extends SwitchboardError>(call: () => Promise<unknown>, Kind: new (...args: never[]) => E, status: number, code: string): Promise<E> {
  const before = received.length;
  const err = await call().then(
    (value) => {
      throw new Error(`expected ${Kind.name}, got a result: ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Kind);
  expect(err).toBeInstanceOf(SwitchboardError);
  expect(err).toBeInstanceOf(Error);
  const e = err as E;
  expect(e.name).toBe(Kind.name);
  expect(e.status).toBe(status);
  expect(e.code).toBe(code);
  expect(e.problem?.status).toBe(status);
  expect(e.problem?.type).toBe(`/api/problems/${code}`);
  expect(e.message).toContain(e.problem!.detail);
  // The request id is the one of the response that carried the error.
  expect(received.length).toBe(before + 1);
  expect(e.requestId).toMatch(REQUEST_ID);
  expect(e.requestId).toBe(received.at(-1));
  expect(e.headers.get('request-id')).toBe(e.requestId);
  expect(e.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return e;
}

describe('each error status has its class', () => {
  it('404 NotFoundError', async () => {
    const e = await failure(() => sb.agents.get(absent('agent')), NotFoundError, 404, 'not-found');
    expect(e.problem?.instance).toBe(`/api/v1/agents/${absent('agent')}`);
  });

  it('422 ValidationError with errors[] pointing into the request', async () => {
    const e = await failure(() => sb.agents.create({ name: '', model: 'gpt-4.1' }), ValidationError, 422, 'validation-error');
    expect(e.errors.length).toBeGreaterThan(0);
    expect(new Set(e.errors.map((x) => x.pointer))).toEqual(new Set(['/name']));
    for (const issue of e.errors) expect(issue.detail).toEqual(expect.any(String));

    const missing = await failure(() => sb.agents.create({ name: uniqueName('no model') } as never), ValidationError, 422, 'validation-error');
    expect(missing.errors.map((x) => x.pointer)).toEqual(['/model']);
  });

  it('401 AuthenticationError for an unknown key', async () => {
    const stranger = recording(`sbk_${'A'.repeat(43)}`);
    await failure(() => stranger.agents.list().then((p) => p), AuthenticationError, 401, 'unauthorized');
  });

  it('403 PermissionDeniedError for a read-only key that writes', async () => {
    const readOnly = await sb.apiKeys.create({ name: uniqueName('read only'), scopes: ['read'] });
    const reader = recording(readOnly.secret);
    expect((await reader.agents.list()).data).toEqual(expect.any(Array));
    await failure(() => reader.agents.create({ name: uniqueName('denied'), model: 'gpt-4.1' }), PermissionDeniedError, 403, 'forbidden');
  });

  it('409 ConflictError invalid-transition, naming the current state', async () => {
    const agent = await sb.agents.create({ name: uniqueName('conflict'), model: 'gpt-4.1', labels: [`nobody-${token()}`] });
    const run = await sb.runs.create({ agentId: agent.id });
    expect((await sb.runs.cancel(run.id)).status).toBe('cancelled');
    const e = await failure(() => sb.runs.cancel(run.id), ConflictError, 409, 'invalid-transition');
    expect(e.problem?.detail).toContain('cancelled');
  });

  it('412 PreconditionFailedError when If-Match is stale; the current ETag passes', async () => {
    const agent = await sb.agents.create({ name: uniqueName('etag'), model: 'gpt-4.1' });
    const etag = (await sb.agents.get(agent.id)).lastResponse.headers.get('etag');
    expect(etag).toBeTruthy();
    await failure(
      () => sb.agents.update(agent.id, { description: 'stale' }, { ifMatch: '"not-the-etag"' }),
      PreconditionFailedError,
      412,
      'precondition-failed',
    );
    const updated = await sb.agents.update(agent.id, { description: 'fresh' }, { ifMatch: etag! });
    expect(updated.description).toBe('fresh');
    await failure(() => sb.agents.update(agent.id, { description: 'again' }, { ifMatch: etag! }), PreconditionFailedError, 412, 'precondition-failed');
  });

  it('no response at all is a ConnectionError (status 0)', async () => {
    const port = await freePort();
    const nowhere = new Switchboard({ baseUrl: `http://127.0.0.1:${port}`, apiKey: key, maxRetries: 0 });
    const err = await nowhere.system.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as ConnectionError).status).toBe(0);
    expect((err as ConnectionError).requestId).toBeUndefined();
  });
});

describe('429 RateLimitError, on a server allowing 2 writes a minute', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ RATE_LIMIT_WRITE: '2' });
  });
  afterAll(() => server?.stop());

  it('the third write throws RateLimitError with retryAfter from Retry-After', async () => {
    const limited = recording(server.adminKey, server.url, { maxRetries: 0 });
    await limited.agents.create({ name: 'one', model: 'gpt-4.1' });
    await limited.agents.create({ name: 'two', model: 'gpt-4.1' });
    const e = await failure(() => limited.agents.create({ name: 'three', model: 'gpt-4.1' }), RateLimitError, 429, 'rate-limited');
    expect(e.retryAfter).toEqual(expect.any(Number));
    expect(e.retryAfter).toBeGreaterThanOrEqual(1);
    expect(e.retryAfter).toBeLessThanOrEqual(60);
    expect(e.retryAfter).toBe(Number(e.headers.get('retry-after')));
    expect(e.headers.get('ratelimit')).toMatch(/^"write";r=0;t=\d+$/);
    // Reads have their own budget.
    expect((await limited.agents.list()).pagination.total).toBe(2);
  });
});

describe('lastResponse on every result', () => {
  it('carries the Request-Id of its response, and stays out of the data (non-enumerable)', async () => {
    const agent = await sb.agents.create({ name: uniqueName('info'), model: 'gpt-4.1', labels: [`nobody-${token()}`] });
    const results: [string, { lastResponse: { requestId: string | undefined; status: number; headers: Headers } }, number][] = [];
    const record = async <R extends { lastResponse: { requestId: string | undefined; status: number; headers: Headers } }>(
      what: string,
      status: number,
      p: PromiseLike<R>,
    ) => {
      const r = await p;
      results.push([what, r, status]);
      // The response this result came from is the last one received.
      expect(r.lastResponse.requestId, what).toBe(received.at(-1));
      return r;
    };
    results.push(['agents.create', agent, 201]);
    await record('system.health', 200, sb.system.health());
    await record('organization.get', 200, sb.organization.get());
    await record('agents.get', 200, sb.agents.get(agent.id));
    await record('agents.list', 200, sb.agents.list({ pageSize: 2 }));
    await record('agents.update', 200, sb.agents.update(agent.id, { description: 'x' }));
    await record('agents.versions.list', 200, sb.agents.versions.list(agent.id));
    const run = await record('runs.create', 201, sb.runs.create({ agentId: agent.id, input: { a: 1 } }));
    await record('runs.get', 200, sb.runs.get((run as unknown as { id: string }).id));
    await record('runs.events', 200, sb.runs.events((run as unknown as { id: string }).id));
    await record('runs.cancel', 200, sb.runs.cancel((run as unknown as { id: string }).id));

    for (const [what, result, status] of results) {
      expect(result.lastResponse.requestId, what).toMatch(REQUEST_ID);
      expect(result.lastResponse.status, what).toBe(status);
      expect(result.lastResponse.headers.get('request-id'), what).toBe(result.lastResponse.requestId);
      expect(Object.keys(result), what).not.toContain('lastResponse');
      expect(JSON.stringify(result), what).not.toContain('lastResponse');
      expect(JSON.stringify(result), what).not.toContain(result.lastResponse.requestId!);
      expect(Object.getOwnPropertyDescriptor(result, 'lastResponse')?.enumerable, what).toBe(false);
    }
    // Different responses, different ids.
    expect(new Set(results.map(([, r]) => r.lastResponse.requestId)).size).toBe(results.length);
  });

  it('a result round-trips through JSON to exactly the API data', async () => {
    const agent = await sb.agents.create({ name: uniqueName('plain'), model: 'gpt-4.1' });
    const copy = JSON.parse(JSON.stringify(agent)) as Record<string, unknown>;
    expect(Object.keys(copy).sort()).toEqual(Object.keys(agent).sort());
    expect(copy.object).toBe('agent');
    expect({ ...agent }).toEqual(copy);
  });
});

/** A loopback HTTP server of this test's own, answering with `handler`. */
async function loopback(handler: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('an error response that is not a problem (a proxy answered)', () => {
  const page = `<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center>${'<p>padding</p>'.repeat(40)}</body>\n</html>\n`;

  it('says its status and the start of its body, shortened', async () => {
    const proxy = await loopback((_req, res) => res.writeHead(502, 'Bad Gateway', { 'Content-Type': 'text/html' }).end(page));
    try {
      const err = await new Switchboard({ baseUrl: proxy.url, apiKey: key, maxRetries: 0 }).agents.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InternalServerError);
      const e = err as InternalServerError;
      expect(e.status).toBe(502);
      expect(e.problem).toBeUndefined();
      expect(e.code).toBe('http-502');
      expect(e.message).toMatch(/^502 Bad Gateway: <html> <head><title>502 Bad Gateway<\/title>/);
      expect(e.message).not.toContain('undefined');
      expect(e.message.length).toBeLessThan(260);
      expect(e.message.endsWith('...')).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('plain text, JSON that is not a problem, and an empty body', async () => {
    const bodies: Record<string, [number, string, string]> = {
      '/text': [503, 'text/plain', 'upstream connect error'],
      '/json': [400, 'application/json', '{"error":"bad things"}'],
      '/empty': [404, 'text/plain', ''],
    };
    const proxy = await loopback((req, res) => {
      const [status, type, body] = bodies[new URL(req.url!, 'http://x').pathname.replace('/api/v1/agents/', '/')]!;
      res.writeHead(status, { 'Content-Type': type }).end(body);
    });
    try {
      const client = new Switchboard({ baseUrl: proxy.url, apiKey: key, maxRetries: 0 });
      const message = (id: string) => client.agents.get(id).catch((e: unknown) => (e as Error).message);
      expect(await message('text')).toBe('503 Service Unavailable: upstream connect error');
      expect(await message('json')).toBe('400 Bad Request: {"error":"bad things"}');
      expect(await message('empty')).toBe('404 Not Found');
    } finally {
      await proxy.close();
    }
  });
});

describe('an aborted call', () => {
  it('throws AbortError (a SwitchboardError) whose cause is the signal reason, while waiting for the response', async () => {
    const slow = await loopback(() => {
      // never answers
    });
    try {
      const controller = new AbortController();
      const reason = new Error('the user left');
      const pending = new Switchboard({ baseUrl: slow.url, apiKey: key, maxRetries: 0 }).agents
        .list(undefined, { signal: controller.signal })
        .catch((e: unknown) => e);
      setTimeout(() => controller.abort(reason), 50);
      const err = await pending;
      expect(err).toBeInstanceOf(AbortError);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect((err as AbortError).name).toBe('AbortError');
      expect((err as AbortError).code).toBe('aborted');
      expect((err as AbortError).cause).toBe(reason);
    } finally {
      await slow.close();
    }
  });

  it('an already aborted signal, and an abort while waiting to retry, throw AbortError too', async () => {
    const already = await sb.agents.list(undefined, { signal: AbortSignal.abort('gone') }).catch((e: unknown) => e);
    expect(already).toBeInstanceOf(AbortError);
    expect((already as AbortError).cause).toBe('gone');

    const busy = await loopback((_req, res) => res.writeHead(503, { 'Retry-After': '30' }).end());
    try {
      const controller = new AbortController();
      const pending = new Switchboard({ baseUrl: busy.url, apiKey: key, maxRetries: 2 }).agents
        .list(undefined, { signal: controller.signal })
        .catch((e: unknown) => e);
      setTimeout(() => controller.abort(), 100);
      const err = await pending;
      expect(err).toBeInstanceOf(AbortError);
      expect((err as AbortError).cause).toBeInstanceOf(DOMException);
    } finally {
      await busy.close();
    }
  });
});

describe('User-Agent', () => {
  const { version } = createRequire(import.meta.url)('@switchboard/sdk/package.json') as { version: string };

  it('every request from Node says switchboard-sdk/<package version> node/<version>, with the global fetch and the default one', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = await loopback((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
    });
    try {
      await new Switchboard({ baseUrl: server.url, apiKey: key }).system.health();
      await new Switchboard({ baseUrl: server.url, apiKey: key, fetch: (i, init) => fetch(i, init) }).system.health();
      await new Switchboard({ baseUrl: server.url, apiKey: key }).rawRequest('/api/v1/agents');
      expect(seen).toHaveLength(3);
      for (const headers of seen) expect(headers['user-agent']).toBe(`switchboard-sdk/${version} node/${process.versions.node}`);
    } finally {
      await server.close();
    }
  });
});

describe('.withResponse()', () => {
  it('gives the data and the raw Response, with its headers', async () => {
    const created = await sb.agents.create({ name: uniqueName('with response'), model: 'echo' }).withResponse();
    expect(created.response).toBeInstanceOf(Response);
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({ object: 'agent', model: 'echo' });
    expect(created.response.headers.get('request-id')).toMatch(REQUEST_ID);
    expect(created.response.headers.get('request-id')).toBe(created.data.lastResponse.requestId);
    expect(created.response.headers.get('location')).toBe(`/api/v1/agents/${created.data.id}`);

    const got = await sb.agents.get(created.data.id).withResponse();
    expect(got.data.id).toBe(created.data.id);
    expect(got.response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(got.response.headers.get('ratelimit')).toMatch(/;r=\d+;t=\d+$/);

    const page = await sb.agents.list({ pageSize: 1 }).withResponse();
    expect(page.data.data).toHaveLength(1);
    expect(page.response.headers.get('request-id')).toBe(page.data.lastResponse.requestId);

    // Errors are thrown as from the plain call.
    const missing = await sb.agents
      .get(absent('agent'))
      .withResponse()
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
  });
});
