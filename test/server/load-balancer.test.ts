import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { nginxBinary, startNginx, type Nginx } from '../support/nginx.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { newBootstrapKey, onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';
import { bearer, call, newAgent, newRun, newRunner, SseStream, type Conn, type RunnerWithToken } from './run-helpers.js';

/**
 * deploy/nginx.conf in front of three replicas on PostgreSQL + Redis, as deploy/README.md runs
 * them: streams pass unbuffered, long-polls wait across replicas, rate limits are shared, and a
 * replica stopped with SIGTERM under load drains without one failed request.
 */
const nginx = nginxBinary();
const needsNginx = process.env.CI === 'true' && !nginx;
const skipReason = !onPostgres
  ? 'DATABASE_URL is not postgres://: SQLite is one file that three processes cannot share'
  : !process.env.REDIS_URL
    ? 'REDIS_URL is not set: replicas share rate limits through Redis'
    : !nginx
      ? 'nginx is not installed (apt-get install nginx-light; CI installs it)'
      : undefined;

if (needsNginx) {
  it('nginx is installed (CI=true: .ci/run installs nginx-light)', () => {
    expect.fail('nginx is not on PATH nor in /usr/sbin: the load balancer test cannot run');
  });
}

const COSTLY_BUDGET = 10;
const SLOW_MS = 2500;
const GRACE_SECONDS = 20;

describe.skipIf(skipReason !== undefined || needsNginx)(`nginx in front of three replicas${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  let balancer: Nginx;
  let provider: TestProvider;
  let lb: Conn;
  let chatModel: string;
  const key = newBootstrapKey();

  beforeAll(async () => {
    provider = await startTestProvider({ defaultReply: { delayMs: SLOW_MS, text: 'Slowly.' } });
    database = await createTestDatabase();
    const env = {
      SWITCHBOARD_BOOTSTRAP_KEY: key,
      REDIS_URL: process.env.REDIS_URL!,
      MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
      RATE_LIMIT_COSTLY: String(COSTLY_BUDGET),
      RATE_LIMIT_READ: '100000',
      RATE_LIMIT_WRITE: '100000',
      RATE_LIMIT_RUN: '100000',
      RATE_LIMIT_LLM: '100000',
      SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
      SSE_PING_SECONDS: '1',
      TRUST_PROXY_HOPS: '1',
    };
    // One after another: the first migrates the database, and each start has the machine to itself.
    for (let i = 0; i < 3; i++) servers.push(await startServerProcess(env, database));
    balancer = await startNginx(
      nginx!,
      servers.map((s) => new URL(s.url).host),
    );
    lb = { baseUrl: balancer.url, key };
    const created = await call(lb, 'POST', '/api/v1/model-providers', {
      name: `slow-${Date.now()}`,
      kind: 'openai-compatible',
      baseUrl: provider.openaiBaseUrl,
      credential: 'sk-test-provider',
      timeoutSeconds: 30,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    chatModel = `slow${Date.now()}`;
    const model = await call(lb, 'POST', '/api/v1/models', { alias: chatModel, providerId: created.body.id, upstreamModel: 'gpt-4.1-mini', api: 'chat' });
    expect(model.status, JSON.stringify(model.body)).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await balancer?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    await database?.drop();
    await provider?.close();
  });

  it('passes an event stream unbuffered: an event reaches the client while its stream is open', async () => {
    const agent = await newAgent(lb);
    const stream = await SseStream.open(`${balancer.url}/api/v1/realtime/agents/${agent.id}/runs`, bearer(key));
    try {
      // The stream's first bytes (its retry line, then pings) arrive before any event: nothing waits for a buffer to fill.
      await stream.until((s) => s.comments.length > 0, 'a ping');
      const started = Date.now();
      const run = await newRun(lb, agent.id);
      await stream.until((s) => s.messages.some((m) => m.json.runId === run.id), 'the run event');
      expect(stream.ended).toBe(false);
      expect((await call(lb, 'POST', `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
      // Promptly (a buffering proxy would hold a frame this small until the stream ends).
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      stream.close();
    }
  });

  it('a long-poll claim through nginx waits and gets a run created on a replica (each in turn)', async () => {
    // Labelled, so the runner takes only this test's runs.
    const agent = await newAgent(lb, { labels: ['long-poll'] });
    const runner = await newRunner(lb, ['long-poll']);
    for (const server of servers) {
      const started = Date.now();
      const claiming = call(runnerLb(runner), 'POST', `/api/v1/runners/${runner.id}/claims?wait=10`);
      await new Promise((r) => setTimeout(r, 500));
      const run = await newRun({ baseUrl: server.url, key }, agent.id);
      const claim = await claiming;
      expect(claim.status).toBe(200);
      expect(claim.body.run.id).toBe(run.id);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });

  it('hands the replicas the address nginx saw the client at (TRUST_PROXY_HOPS=1), never one the client claims', async () => {
    // From 127.0.0.2, so the client's address differs from nginx's own (127.0.0.1), with a forged X-Forwarded-For.
    const created = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${balancer.url}/api/v1/agents`,
        { method: 'POST', localAddress: '127.0.0.2', headers: { ...bearer(key), 'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.7' } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ name: `forwarded-${Date.now()}`, model: 'gpt-4.1' }));
    });
    expect(created.status, created.body).toBe(201);
    const { id } = JSON.parse(created.body) as { id: string };
    const audit = await call<{ data: { request: { ip: string | null } }[] }>(lb, 'GET', `/api/v1/audit-events?resourceId=${id}`);
    expect(audit.body.data.map((e) => e.request.ip)).toEqual(['127.0.0.2']);
  });

  it(`limits requests across the three replicas at exactly the shared budget (${COSTLY_BUDGET} a minute)`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < COSTLY_BUDGET + 6; i++) statuses.push((await call(lb, 'GET', '/api/v1/audit-events/verify')).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(COSTLY_BUDGET);
    expect(statuses.slice(COSTLY_BUDGET)).toEqual([429, 429, 429, 429, 429, 429]);
  });

  it('drains a replica stopped with SIGTERM under load: no 5xx, in-flight requests finish, streams resume elsewhere with every event once', async () => {
    const victim = servers[0]!;
    const agent = await newAgent(lb, { labels: ['drain'] });
    const runner = await newRunner(lb, ['drain']);
    // A runner that none of these runs is for: its long-poll on the victim waits until the drain ends it.
    const idle = await newRunner(lb, ['idle']);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const counted = async (what: string, request: () => Promise<{ status: number }>) => {
      try {
        const { status } = await request();
        count(status);
        return status;
      } catch (err) {
        failures.push(`${what}: ${(err as Error).message}`);
        return 0;
      }
    };

    // Readers of every run event: the SDK (3), the eventsource package (2), all through nginx, and one straight to the victim.
    const controller = new AbortController();
    const sdkReaders = [0, 1, 2].map(() => {
      const ids: string[] = [];
      const sdk = new Switchboard({ baseUrl: balancer.url, apiKey: key });
      const done = (async () => {
        for await (const event of sdk.runs.streamAll({ agentId: agent.id, signal: controller.signal, after: 0 })) ids.push(event.id);
      })().catch((err: unknown) => failures.push(`sdk reader: ${(err as Error).message}`));
      return { ids, done };
    });
    const esReaders = [0, 1].map(() => {
      const ids: string[] = [];
      let opens = 0;
      const es = new EventSource(`${balancer.url}/api/v1/realtime/agents/${agent.id}/runs`, {
        fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...bearer(key) } }),
      });
      es.addEventListener('open', () => opens++);
      es.addEventListener('status', (e) => ids.push((JSON.parse(e.data) as { id: string }).id));
      return { ids, es, opens: () => opens };
    });
    const direct = await openResumable(victim.url, balancer.url, `/api/v1/realtime/agents/${agent.id}/runs`, key);

    // Load through nginx: runs created, runs listed, a runner claiming; each response counted.
    let loading = true;
    const created: string[] = [];
    const loadLoop = async () => {
      for (let i = 0; loading && i < 300; i++) {
        await counted('create run', async () => {
          const r = await call(lb, 'POST', '/api/v1/runs', { agentId: agent.id, input: { i } });
          if (r.status === 201) created.push((r.body as { id: string }).id);
          return r;
        });
        await counted('list runs', () => call(lb, 'GET', `/api/v1/runs?agentId=${agent.id}&pageSize=5`));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const claimLoop = async () => {
      for (let i = 0; loading && i < 200; i++) await counted('claim', () => call(runnerLb(runner), 'POST', `/api/v1/runners/${runner.id}/claims?wait=2`));
    };
    const load = Promise.all([loadLoop(), loadLoop(), loadLoop(), claimLoop()]);
    await new Promise((r) => setTimeout(r, 1000));

    // In flight when the signal comes: slow model calls (one on the victim, three through nginx) and a long-poll on the victim.
    const chat = (baseUrl: string) => () =>
      call({ baseUrl, key }, 'POST', '/api/v1/llm/openai/v1/chat/completions', { model: chatModel, messages: [{ role: 'user', content: 'Hi' }] });
    const slow = [chat(victim.url), chat(balancer.url), chat(balancer.url), chat(balancer.url)].map((request, i) => counted(`slow call ${i}`, request));
    const longPoll = call(runnerLb(idle, victim.url), 'POST', `/api/v1/runners/${idle.id}/claims?wait=20`).then((r) => ({
      status: r.status,
      at: Date.now(),
    }));
    // A kept-alive connection to the victim, idle when the signal comes.
    const keptAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    expect((await get(keptAlive, `${victim.url}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));

    const signalled = Date.now();
    const exited = new Promise<number | null>((resolve) => victim.child.once('exit', resolve));
    victim.child.kill('SIGTERM');
    // The long-poll's early answer shows the drain has begun; the idle kept-alive connection is still open then, and reused.
    const poll = await longPoll;
    const ready = await get(keptAlive, `${victim.url}/readyz`);
    const code = await exited;
    const drainMs = Date.now() - signalled;
    keptAlive.destroy();
    // Load goes on once the victim is gone: nginx finds it refusing and uses the others.
    await new Promise((r) => setTimeout(r, 1500));
    loading = false;
    await load;
    const slowStatuses = await Promise.all(slow);

    // Every reader has every event up to the last run's, once, in order: compared with the stored history.
    const marker = await newRun(lb, agent.id, { input: { marker: true } });
    const history = await SseStream.open(`${balancer.url}/api/v1/realtime/agents/${agent.id}/runs?after=0`, bearer(key));
    await history.until((s) => s.messages.some((m) => m.json.runId === marker.id), 'the marker run in the history');
    history.close();
    const all = history.messages.map((m) => m.json.id);
    const statusEvents = history.messages.filter((m) => m.event === 'status').map((m) => m.json.id);
    const seenAll = (ids: string[]) => ids.includes(all.at(-1)!);
    await waitUntil(
      () => sdkReaders.every((r) => seenAll(r.ids)) && esReaders.every((r) => r.ids.includes(statusEvents.at(-1)!)) && seenAll(direct.ids()),
      15_000,
    );
    controller.abort();
    await Promise.all(sdkReaders.map((r) => r.done));
    for (const r of esReaders) r.es.close();
    direct.close();

    const requests = [...statuses.values()].reduce((a, b) => a + b, 0);
    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0);
    const lost = (ids: string[], expected: string[]) => expected.filter((id) => !ids.includes(id)).length;
    const duplicated = (ids: string[]) => ids.length - new Set(ids).size;
    console.info(
      `drain: ${requests} requests counted (${JSON.stringify(Object.fromEntries(statuses))}), ${fiveXx} 5xx, ${failures.length} failed; ` +
        `victim exited ${code} after ${drainMs} ms; long-poll ended ${poll.at - signalled} ms after SIGTERM; ` +
        `${all.length} events; lost ${[...sdkReaders.map((r) => lost(r.ids, all)), ...esReaders.map((r) => lost(r.ids, statusEvents)), lost(direct.ids(), all)].join('/')}, ` +
        `duplicated ${[...sdkReaders, ...esReaders].map((r) => duplicated(r.ids)).join('/')}/${duplicated(direct.ids())}; ` +
        `eventsource opens ${esReaders.map((r) => r.opens()).join('/')}; direct stream retry fields ${direct.retries().join(',')} ms, resumed ${direct.resumes()} times`,
    );

    expect(failures).toEqual([]);
    expect(fiveXx).toBe(0);
    expect(requests).toBeGreaterThan(50);
    expect(code).toBe(0);
    // Readiness fails while the replica drains, on a connection it kept open, and that connection is told to close.
    expect(ready.status).toBe(503);
    expect(ready.headers.connection).toBe('close');
    // The slow calls finish inside the grace period, with their answers.
    expect(slowStatuses).toEqual([200, 200, 200, 200]);
    expect(drainMs).toBeLessThan(GRACE_SECONDS * 1000);
    // The long-poll waiting on the victim answers "nothing yet" at once instead of after 20 s.
    expect(poll.status).toBe(204);
    expect(poll.at - signalled).toBeLessThan(5000);
    // The stream on the victim ended with the reconnect hint, then resumed through nginx.
    expect(direct.retries()).toContain(500);
    expect(direct.hinted()).toBe(true);
    expect(direct.resumes()).toBeGreaterThanOrEqual(1);
    for (const r of sdkReaders) expect(r.ids).toEqual(all);
    for (const r of esReaders) expect(r.ids).toEqual(statusEvents);
    expect(direct.ids()).toEqual(all);
    expect(created.filter((id) => !history.messages.some((m) => m.json.runId === id))).toEqual([]);
  }, 120_000);

  const runnerLb = (runner: RunnerWithToken, baseUrl = balancer.url): Conn => ({ baseUrl, key: runner.token });
});

/** A GET on a given agent (so a kept-alive connection is reused), with its status and headers. */
function get(agent: HttpAgent, url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitUntil(predicate: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * A stream opened on `first`, resumed on `then` with Last-Event-ID each time it ends, as an
 * EventSource does; it notes the `retry:` field and the comment a stopping server ends with.
 */
async function openResumable(first: string, then: string, path: string, key: string) {
  const ids: string[] = [];
  let lastId: string | undefined;
  const retries: number[] = [];
  let hinted = false;
  let resumes = -1;
  let closed = false;
  const controller = new AbortController();
  const parser = createParser({
    onEvent: (m) => {
      lastId = m.id;
      ids.push((JSON.parse(m.data) as { id: string }).id);
    },
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => {
      if (/reconnect/.test(c)) hinted = true;
    },
  });
  const opened = async (base: string) => {
    resumes++;
    const res = await fetch(`${base}${path}${lastId ? '' : '?after=0'}`, {
      headers: { Accept: 'text/event-stream', ...bearer(key), ...(lastId ? { 'Last-Event-ID': lastId } : {}) },
      signal: controller.signal,
    });
    if (res.status !== 200) throw new Error(`stream answered ${res.status}`);
    return res;
  };
  const pump = async (res: Response) => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(value);
    }
  };
  const first_ = await opened(first);
  void (async () => {
    let res = first_;
    for (let attempt = 0; !closed && attempt < 20; attempt++) {
      await pump(res).catch(() => {});
      if (closed) return;
      parser.reset();
      await new Promise((r) => setTimeout(r, retries.at(-1) ?? 1000));
      res = await opened(then);
    }
  })().catch(() => {});
  return {
    ids: () => ids,
    retries: () => retries,
    hinted: () => hinted,
    resumes: () => resumes,
    close: () => {
      closed = true;
      controller.abort();
    },
  };
}
