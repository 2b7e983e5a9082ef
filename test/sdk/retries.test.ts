import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  BadRequestError,
  ConflictError,
  ConnectionError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
  Switchboard,
  SwitchboardError,
  TimeoutError,
  ValidationError,
} from '@switchboard/sdk';
import { absent, countAgents, ownApp, sleep, uniqueName, until } from './helpers.js';
import { problem, rateLimited, startProxy, unavailable, type Action, type Proxy, type Seen } from './proxy.js';

let sb: Switchboard;
let key: string;
let serverUrl: string;
const proxies: Proxy[] = [];

beforeAll(async () => {
  ({ sb, key, serverUrl } = await ownApp('sdk retries'));
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/**
 * The platform fetch, with each Request kept referenced until its fetch settles: Node's
 * fetch can lose the link between a Request's signal and the fetch when a garbage collection
 * happens meanwhile (nodejs/undici#4068), which makes the SDK's timeouts and aborts hang at random.
 * The tests below use it so that they check one thing each; 'after a garbage collection' checks
 * the SDK on the bare platform fetch.
 */
const inFlight = new Set<unknown>();
const holding: typeof fetch = async (input, init) => {
  inFlight.add(input);
  try {
    return await fetch(input, init);
  } finally {
    inFlight.delete(input);
  }
};

/** A proxy in front of the shared server, and an SDK client that goes through it. */
async function through(decide: (seen: Seen, index: number) => Action, options: { maxRetries?: number; timeout?: number; bareFetch?: boolean } = {}) {
  const proxy = await startProxy(serverUrl, decide);
  proxies.push(proxy);
  const { bareFetch, ...clientOptions } = options;
  return { proxy, client: new Switchboard({ baseUrl: proxy.url, apiKey: key, ...clientOptions, ...(bareFetch ? {} : { fetch: holding }) }) };
}

const forward: Action = { kind: 'forward' };

/**
 * What a call settled with (its error, or 'resolved'), or 'still pending 10 s later': a bound, so a
 * call that never settles fails the test with a clear message instead of the test timeout.
 */
const settle = (p: PromiseLike<unknown>) =>
  Promise.race([
    Promise.resolve(p).then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((r) => setTimeout(() => r('still pending 10 s later'), 10_000)),
  ]);
/** An abort rejects with the SDK's AbortError, whose cause is the signal's reason. */
const expectAborted = (err: unknown, reason: unknown) => {
  expect(err).toBeInstanceOf(AbortError);
  expect((err as AbortError).cause).toBe(reason);
};
const agentPosts = (proxy: Proxy) => proxy.seen.filter((s) => s.method === 'POST' && s.path === '/api/v1/agents');

describe('retried failures', () => {
  it('a create answered 429 (Retry-After: 1), then 503, then success: succeeds, one Idempotency-Key on every attempt, one agent', async () => {
    const { proxy, client } = await through((_s, i) => (i === 0 ? rateLimited(1) : i === 1 ? unavailable() : forward));
    const name = uniqueName('retried agent');
    const agent = await client.agents.create({ name, model: 'gpt-4.1' });

    expect(agent.name).toBe(name);
    expect(agent.lastResponse.status).toBe(201);
    const posts = agentPosts(proxy);
    expect(proxy.seen).toHaveLength(3);
    expect(posts).toHaveLength(3);
    const keys = posts.map((s) => s.idempotencyKey);
    expect(keys[0]).toMatch(/^.{1,255}$/);
    expect(new Set(keys)).toEqual(new Set([keys[0]]));
    expect(new Set(posts.map((s) => s.body))).toEqual(new Set([posts[0]!.body]));
    expect(await countAgents(sb, name)).toBe(1);
  });

  it('keeps a caller-given Idempotency-Key on every attempt, and separate calls get separate keys', async () => {
    const { proxy, client } = await through((_s, i) => (i === 0 ? unavailable() : forward));
    const name = uniqueName('own key agent');
    await client.agents.create({ name, model: 'gpt-4.1' }, { idempotencyKey: `mine-${name.replace(/[^a-z0-9]/gi, '')}` });
    await client.agents.create({ name: `${name} 2`, model: 'gpt-4.1' });
    await client.agents.create({ name: `${name} 3`, model: 'gpt-4.1' });
    const keys = agentPosts(proxy).map((s) => s.idempotencyKey);
    const mine = `mine-${name.replace(/[^a-z0-9]/gi, '')}`;
    expect(keys.slice(0, 2)).toEqual([mine, mine]);
    expect(new Set(keys).size).toBe(3);
    expect(await countAgents(sb, name)).toBe(3);
  });

  it('a connection dropped after the server created the agent (socket destroyed) is retried and replayed: exactly one agent', async () => {
    let firstStatus = 0;
    const { proxy, client } = await through((_s, i) => (i === 0 ? { kind: 'forward-then-destroy', onForwarded: (status) => (firstStatus = status) } : forward));
    const name = uniqueName('dropped agent');
    const agent = await client.agents.create({ name, model: 'gpt-4.1' });

    expect(firstStatus).toBe(201);
    const posts = agentPosts(proxy);
    expect(posts).toHaveLength(2);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(agent.lastResponse.headers.get('idempotent-replayed')).toBe('true');
    expect(await countAgents(sb, name)).toBe(1);
    expect((await sb.agents.list({ q: name })).data.map((a) => a.id)).toEqual([agent.id]);
  });

  it('a connection dropped before the server saw the request is retried: exactly one agent', async () => {
    const { proxy, client } = await through((_s, i) => (i === 0 ? { kind: 'destroy' } : forward));
    const name = uniqueName('reset agent');
    const agent = await client.agents.create({ name, model: 'gpt-4.1' });
    expect(agentPosts(proxy)).toHaveLength(2);
    expect(agent.lastResponse.headers.get('idempotent-replayed')).toBeNull();
    expect(await countAgents(sb, name)).toBe(1);
  });

  it('409 idempotency-in-flight is retried with the same key', async () => {
    const inFlight: Action = { kind: 'respond', status: 409, body: problem(409, 'idempotency-in-flight') };
    const { proxy, client } = await through((_s, i) => (i === 0 ? inFlight : forward));
    const name = uniqueName('in flight agent');
    await client.agents.create({ name, model: 'gpt-4.1' });
    const posts = agentPosts(proxy);
    expect(posts).toHaveLength(2);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(await countAgents(sb, name)).toBe(1);
  });

  it('retries a GET after 503 and 429 too', async () => {
    const { proxy, client } = await through((_s, i) => (i === 0 ? unavailable() : i === 1 ? rateLimited(1) : forward));
    const page = await client.agents.list({ pageSize: 1 });
    expect(page.lastResponse.status).toBe(200);
    expect(proxy.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET']);
  });
});

describe('failures that are not retried', () => {
  it('400, 404, 409 invalid-transition and 422 are thrown after exactly one request', async () => {
    const { proxy, client } = await through((s) =>
      s.path.startsWith('/api/v1/agents?') && s.path.includes('label=bad-request')
        ? { kind: 'respond', status: 400, body: problem(400, 'invalid-parameter') }
        : forward,
    );

    await expect(client.agents.list({ label: 'bad-request' })).rejects.toBeInstanceOf(BadRequestError);
    expect(proxy.seen).toHaveLength(1);

    await expect(client.agents.get(absent('agent'))).rejects.toBeInstanceOf(NotFoundError);
    expect(proxy.seen).toHaveLength(2);

    await expect(client.agents.create({ name: '', model: 'gpt-4.1' })).rejects.toBeInstanceOf(ValidationError);
    expect(proxy.seen).toHaveLength(3);

    const agent = await sb.agents.create({ name: uniqueName('paused agent'), model: 'gpt-4.1' });
    await sb.agents.pause(agent.id);
    const conflict = await client.agents.pause(agent.id).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).code).toBe('invalid-transition');
    expect(proxy.seen).toHaveLength(4);
    expect(proxy.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'POST', 'POST']);
  });

  it('maxRetries: 0 (client option or per call) makes the first 503 throw InternalServerError', async () => {
    const { proxy, client } = await through(() => unavailable(), { maxRetries: 0 });
    await expect(client.agents.create({ name: uniqueName('never'), model: 'gpt-4.1' })).rejects.toBeInstanceOf(InternalServerError);
    expect(proxy.seen).toHaveLength(1);

    const other = new Switchboard({ baseUrl: proxy.url, apiKey: key });
    await expect(other.agents.list({}, { maxRetries: 0 })).rejects.toBeInstanceOf(InternalServerError);
    expect(proxy.seen).toHaveLength(2);
  });

  it('exhausted retries on 503 throw InternalServerError with the problem code, requestId and headers', async () => {
    const { proxy, client } = await through(() => ({
      kind: 'respond',
      status: 503,
      headers: { 'Request-Id': 'req_01jd4x7p2kf8q6v3b9m5t0s1ab', 'X-Proxy': 'yes' },
      body: problem(503, 'service-unavailable'),
    }));
    const name = uniqueName('exhausted');
    const err = await client.agents.create({ name, model: 'gpt-4.1' }, { maxRetries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalServerError);
    expect(err).toBeInstanceOf(SwitchboardError);
    const e = err as InternalServerError;
    expect(e.status).toBe(503);
    expect(e.code).toBe('service-unavailable');
    expect(e.requestId).toBe('req_01jd4x7p2kf8q6v3b9m5t0s1ab');
    expect(e.headers.get('x-proxy')).toBe('yes');
    expect(e.problem?.detail).toBe('The proxy answered 503 service-unavailable.');
    const posts = agentPosts(proxy);
    expect(posts).toHaveLength(2);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(await countAgents(sb, name)).toBe(0);
  });

  it('exhausted retries on dropped connections throw ConnectionError', async () => {
    const { proxy, client } = await through(() => ({ kind: 'destroy' }));
    const name = uniqueName('never connected');
    const err = await client.agents.create({ name, model: 'gpt-4.1' }, { maxRetries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as ConnectionError).status).toBe(0);
    expect((err as ConnectionError).code).toBe('connection-error');
    expect(agentPosts(proxy)).toHaveLength(2);
    expect(await countAgents(sb, name)).toBe(0);
  });

  it('exhausted retries on 429 throw RateLimitError with retryAfter', async () => {
    const { proxy, client } = await through(() => rateLimited(1));
    const err = await client.agents.list({}, { maxRetries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    const e = err as RateLimitError;
    expect(e.status).toBe(429);
    expect(e.code).toBe('rate-limited');
    expect(e.retryAfter).toBe(1);
    expect(e.requestId).toBe('req_01jd4x7p2kf8q6v3b9m5t0s1ab');
    expect(e.headers.get('retry-after')).toBe('1');
    expect(proxy.seen).toHaveLength(2);
  });
});

describe('timeouts and cancellation', () => {
  it('a per-call timeout against a proxy that never answers throws TimeoutError (each attempt timed out)', async () => {
    const { proxy, client } = await through(() => ({ kind: 'hang' }));
    const err = await settle(client.agents.list({}, { timeout: 200, maxRetries: 0 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as TimeoutError).status).toBe(0);
    expect(proxy.seen).toHaveLength(1);

    const retried = await settle(client.agents.create({ name: uniqueName('slow'), model: 'gpt-4.1' }, { timeout: 200, maxRetries: 1 }));
    expect(retried).toBeInstanceOf(TimeoutError);
    const posts = agentPosts(proxy);
    expect(posts).toHaveLength(2);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
  });

  it('a client-wide timeout applies too', async () => {
    const { proxy } = await through(() => ({ kind: 'hang' }));
    const client = new Switchboard({ baseUrl: proxy.url, apiKey: key, timeout: 200, maxRetries: 0, fetch: holding });
    expect(await settle(client.system.health())).toBeInstanceOf(TimeoutError);
    expect(proxy.seen).toHaveLength(1);
  });

  it("a TimeoutError's code is `timeout` (as SwitchboardError.code documents)", async () => {
    const { client } = await through(() => ({ kind: 'hang' }));
    const err = (await settle(client.agents.list({}, { timeout: 100, maxRetries: 0 }))) as TimeoutError;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.code).toBe('timeout');
  });

  describe('after a garbage collection during the attempt', () => {
    // A collection while a request is pending must not disconnect the SDK's timeout or the caller's
    // signal from the request (Request objects built on other Requests lose their signal link in
    // Node's fetch when collected: nodejs/undici#4068).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;

    it('the per-call timeout still fires', async () => {
      const { proxy, client } = await through(() => ({ kind: 'hang' }), { bareFetch: true });
      const call = client.agents.create({ name: uniqueName('gc timeout'), model: 'gpt-4.1' }, { timeout: 1_000, maxRetries: 0 });
      await until(() => proxy.seen.length === 1, 'the request at the proxy');
      gc();
      gc();
      expect(await settle(call)).toBeInstanceOf(TimeoutError);
    });

    it("the caller's abort still ends the call", async () => {
      const { proxy, client } = await through(() => ({ kind: 'hang' }), { bareFetch: true });
      const controller = new AbortController();
      const reason = new Error('aborted after a gc');
      const call = client.agents.list({}, { signal: controller.signal, timeout: 60_000, maxRetries: 0 }).then((p) => p);
      await until(() => proxy.seen.length === 1, 'the request at the proxy');
      gc();
      gc();
      controller.abort(reason);
      expectAborted(await settle(call), reason);
    });
  });

  it('aborting while a request is in flight rejects with the abort reason and sends nothing more', async () => {
    const { proxy, client } = await through(() => ({ kind: 'hang' }));
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    const call = client.agents.create({ name: uniqueName('aborted'), model: 'gpt-4.1' }, { signal: controller.signal });
    await until(() => proxy.seen.length === 1, 'the first request at the proxy');
    controller.abort(reason);
    expectAborted(await settle(call), reason);
    // Longer than any backoff of the first two retries: a retry would have been sent by now.
    await sleep(1_500);
    expect(proxy.seen).toHaveLength(1);
  });

  it('aborting during the wait before a retry rejects at once with the abort reason and stops retrying', async () => {
    // Retry-After: 60 — the call would wait a minute (beyond this test's timeout) if the abort did not end the wait.
    const { proxy, client } = await through(() => unavailable(60));
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    // A list call is lazy: awaiting (then) sends it.
    const call = client.agents.list({}, { signal: controller.signal }).then((page) => page);
    await until(() => proxy.seen.length === 1, 'the first request at the proxy');
    await sleep(100);
    controller.abort(reason);
    expectAborted(await settle(call), reason);
    expect(proxy.seen).toHaveLength(1);
  });

  it('a signal that is already aborted rejects with its reason and sends no request', async () => {
    const { proxy, client } = await through(() => ({ kind: 'hang' }));
    const reason = new Error('aborted before the call');
    const call = client.agents.create(
      { name: uniqueName('pre-aborted'), model: 'gpt-4.1' },
      { signal: AbortSignal.abort(reason), timeout: 5_000, maxRetries: 0 },
    );
    expectAborted(await settle(call), reason);
    expect(proxy.seen).toHaveLength(0);
  });
});
