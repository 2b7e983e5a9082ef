import { randomBytes } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '@switchboard/server';
import { configProblems } from '../support/config-problems.js';
import { freePort } from '../support/ports.js';
import { onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { until } from '../support/until.js';
import { aliasName, createAlias, startGateway, type Gateway } from './gateway-helpers.js';
import { hasSeries, parseMetrics, sample, type Samples } from './metrics-helpers.js';
import { bearer, call, claim, complete, newAgent, newRun, newRunner, runnerConn, SseStream, type Conn } from './run-helpers.js';

/**
 * GET /metrics: on the API's port for METRICS_TOKEN only, on METRICS_PORT without a token, nowhere
 * without either; and what the numbers say after known traffic, read in the Prometheus text format.
 */
const TOKEN = randomBytes(32).toString('hex');
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const problemOf = async (res: Response) => {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { status: number; code: string; detail: string };
};

describe('METRICS_TOKEN, METRICS_PORT and METRICS_HOST', () => {
  it('are off by default, and read as set', () => {
    expect(loadConfig({}).metrics).toEqual({ token: undefined, listen: undefined });
    expect(loadConfig({ METRICS_TOKEN: TOKEN, METRICS_PORT: '9469' }).metrics).toEqual({ token: TOKEN, listen: { port: 9469, host: '127.0.0.1' } });
    expect(loadConfig({ METRICS_PORT: '9469', METRICS_HOST: '0.0.0.0' }).metrics.listen).toEqual({ port: 9469, host: '0.0.0.0' });
  });

  it('refuse a short or spaced token (without repeating it), a bad port or host, the API port, and a host without a port', () => {
    const short = 'short-secret-token';
    const message = configProblems({ METRICS_TOKEN: short, METRICS_PORT: '70000', METRICS_HOST: 'bad host' });
    expect(message).toEqual([
      '  METRICS_TOKEN: must be at least 32 printable ASCII characters without spaces (openssl rand -hex 32)',
      '  METRICS_PORT: must be an integer from 1 to 65535',
      '  METRICS_HOST: must be an IP address or a host name',
    ]);
    expect(message.join('\n')).not.toContain(short);
    expect(configProblems({ METRICS_TOKEN: `${'a'.repeat(20)} ${'b'.repeat(20)}` })).toEqual([
      '  METRICS_TOKEN: must be at least 32 printable ASCII characters without spaces (openssl rand -hex 32)',
    ]);
    expect(configProblems({ METRICS_PORT: '0' })).toEqual(['  METRICS_PORT: must be an integer from 1 to 65535']);
    expect(configProblems({ PORT: '9469', METRICS_PORT: '9469' })).toEqual([
      '  METRICS_PORT: must differ from PORT (the metrics listener is a server of its own)',
    ]);
    expect(configProblems({ METRICS_HOST: '0.0.0.0' })).toEqual(['  METRICS_HOST: only used with METRICS_PORT']);
  });
});

describe('GET /metrics without METRICS_TOKEN or METRICS_PORT', () => {
  it('is 404 not-found, with or without a token: nothing is exposed', async () => {
    const attempts: Record<string, string>[] = [{}, bearer(TOKEN), bearer(inject('adminKey'))];
    for (const headers of attempts) {
      const res = await fetch(`${inject('serverUrl')}/metrics`, { headers });
      expect(res.status).toBe(404);
      expect(await problemOf(res)).toMatchObject({ status: 404, code: 'not-found', detail: 'No route GET /metrics: metrics are not served on this port.' });
    }
  });
});

describe('GET /metrics with METRICS_TOKEN and METRICS_PORT', () => {
  let gateway: Gateway;
  let conn: Conn;
  let metricsPort: number;
  const scrape = async (): Promise<Samples> => {
    const res = await fetch(`${gateway.server.url}/metrics`, { headers: bearer(TOKEN) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
    return parseMetrics(await res.text());
  };
  /** Scrapes until `probe` gives a value: gauges read from the database are cached for 2 s, and some work ends after its response. */
  const eventually = <T>(what: string, probe: (s: Samples) => T | undefined) => until(what, 10_000, async () => probe(await scrape()));

  beforeAll(async () => {
    metricsPort = await freePort();
    gateway = await startGateway({
      METRICS_TOKEN: TOKEN,
      METRICS_PORT: String(metricsPort),
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_INTERVAL_MS: '100',
      RATE_LIMIT_RUN: '100000',
    });
    conn = gateway.conn;
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers 401 without the token, with a wrong one, and with an API key; 200 in the text format with it', async () => {
    const url = `${gateway.server.url}/metrics`;
    const wrong = `${TOKEN.slice(0, -1)}${TOKEN.endsWith('0') ? '1' : '0'}`;
    const refused: Record<string, string>[] = [{}, bearer(wrong), bearer(gateway.server.adminKey), { 'X-API-Token': TOKEN }, { Authorization: TOKEN }];
    for (const headers of refused) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect(await problemOf(res)).toMatchObject({ code: 'unauthorized', detail: 'Send the metrics token (METRICS_TOKEN) as Authorization: Bearer <token>.' });
    }
    const samples = await scrape();
    expect(sample(samples, 'switchboard_http_requests_total', { operation_id: 'getMetrics', method: 'GET', status: '401' })).toBe(5);
    expect(sample(samples, 'switchboard_http_problems_total', { code: 'unauthorized' })).toBeGreaterThanOrEqual(5);
    // The default process metrics, and the pool: one connection on SQLite, ten on PostgreSQL.
    expect(hasSeries(samples, 'process_cpu_user_seconds_total')).toBe(true);
    expect(hasSeries(samples, 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(sample(samples, 'switchboard_db_pool_max_connections')).toBe(onPostgres ? 10 : 1);
    for (const state of ['used', 'free', 'pending_acquire', 'pending_create'])
      expect(hasSeries(samples, 'switchboard_db_pool_connections', { state })).toBe(true);
    expect(sample(samples, 'switchboard_db_pool_connections', { state: 'pending_acquire' })).toBe(0);
  });

  it('serves the same metrics on METRICS_PORT without a token, and nothing else there', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
    expect(hasSeries(parseMetrics(await res.text()), 'switchboard_runs', { status: 'queued' })).toBe(true);
    const other = await fetch(`${base}/api/v1/agents`, { headers: bearer(gateway.server.adminKey) });
    expect(other.status).toBe(404);
    expect(await problemOf(other)).toMatchObject({ code: 'not-found' });
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('counts requests by operation, method and status, and times each', async () => {
    const labels = { operation_id: 'getHealth', method: 'GET', status: '200' };
    const before = await scrape();
    for (let i = 0; i < 7; i++) expect((await fetch(`${gateway.server.url}/healthz`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await fetch(`${gateway.server.url}/no/such/route/${i}`)).status).toBe(404);
    const after = await scrape();
    const delta = (name: string, l: Record<string, string>) => sample(after, name, l) - sample(before, name, l);
    expect(delta('switchboard_http_requests_total', labels)).toBe(7);
    expect(delta('switchboard_http_request_duration_seconds_count', labels)).toBe(7);
    expect(delta('switchboard_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(7);
    // No route: no operation id (never the path, which would make a series per URL).
    expect(delta('switchboard_http_requests_total', { operation_id: 'none', method: 'GET', status: '404' })).toBe(3);
    expect(delta('switchboard_http_problems_total', { code: 'not-found' })).toBe(3);
    expect([...after.keys()].some((k) => k.includes('/no/such/route'))).toBe(false);
    // The scrape before this one counts, the one that reads the numbers not yet.
    expect(delta('switchboard_http_requests_total', { operation_id: 'getMetrics', method: 'GET', status: '200' })).toBe(1);
  });

  it('follows a run from queued to claimed to completed: the status gauges, the queue age and the claim latency', async () => {
    const agent = await newAgent(conn);
    const runner = await newRunner(conn);
    const rc = runnerConn(gateway.server.url, runner);
    const before = await scrape();
    expect(sample(before, 'switchboard_run_claim_wait_seconds_count')).toBe(0);

    const run = await newRun(conn, agent.id);
    const queued = await eventually('the run counted as queued', (s) => (sample(s, 'switchboard_runs', { status: 'queued' }) === 1 ? s : undefined));
    expect(sample(queued, 'switchboard_runs', { status: 'running' })).toBe(0);
    expect(sample(queued, 'switchboard_run_queue_oldest_age_seconds')).toBeGreaterThan(0);
    const waitedAtLeast = (Date.now() - Date.parse(run.queuedAt)) / 1000;

    const claimed = await claim(rc, runner.id);
    expect(claimed.run.id).toBe(run.id);
    const running = await eventually('the run counted as running', (s) => (sample(s, 'switchboard_runs', { status: 'running' }) === 1 ? s : undefined));
    expect(sample(running, 'switchboard_runs', { status: 'queued' })).toBe(0);
    expect(sample(running, 'switchboard_run_queue_oldest_age_seconds')).toBe(0);
    expect(sample(running, 'switchboard_run_claim_wait_seconds_count')).toBe(1);
    const waited = sample(running, 'switchboard_run_claim_wait_seconds_sum');
    expect(waited).toBeGreaterThanOrEqual(waitedAtLeast - 0.01);
    expect(waited).toBeLessThan(30);
    expect(
      sample(running, 'switchboard_run_claim_duration_seconds_count', { found: 'true' }) -
        sample(before, 'switchboard_run_claim_duration_seconds_count', { found: 'true' }),
    ).toBe(1);

    // Nothing left to claim: the attempt is timed as one that found none.
    expect((await call(rc, 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`)).status).toBe(204);
    const done = await complete(rc, claimed.lease.id, { fencingToken: claimed.lease.fencingToken, status: 'succeeded', output: {} });
    expect(done.status).toBe(200);
    const finished = await eventually('the run no longer counted', (s) => (sample(s, 'switchboard_runs', { status: 'running' }) === 0 ? s : undefined));
    expect(sample(finished, 'switchboard_runs', { status: 'queued' })).toBe(0);
    expect(sample(finished, 'switchboard_runs', { status: 'waiting' })).toBe(0);
    expect(sample(finished, 'switchboard_run_claim_wait_seconds_count')).toBe(1);
    expect(
      sample(finished, 'switchboard_run_claim_duration_seconds_count', { found: 'false' }) -
        sample(before, 'switchboard_run_claim_duration_seconds_count', { found: 'false' }),
    ).toBe(1);
    expect(sample(finished, 'switchboard_http_requests_total', { operation_id: 'completeRun', method: 'POST', status: '200' })).toBe(1);
  });

  it('counts webhook attempts by outcome: one delivered, one refused with 500 (a retry is scheduled)', async () => {
    const hits: number[] = [];
    const receiver: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits.push(req.url === '/ok' ? 200 : 500);
        res.writeHead(req.url === '/ok' ? 204 : 500).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    try {
      const endpoints = [];
      for (const path of ['/ok', '/fail']) {
        const r = await call<{ id: string }>(conn, 'POST', '/api/v1/webhook-endpoints', { url: `${base}${path}`, eventTypes: ['agent.created'] });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        endpoints.push(r.body.id);
      }
      const before = await scrape();
      await newAgent(conn);
      const after = await eventually('both attempts recorded', (s) =>
        sample(s, 'switchboard_webhook_attempt_duration_seconds_count') - sample(before, 'switchboard_webhook_attempt_duration_seconds_count') === 2
          ? s
          : undefined,
      );
      const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
      expect(hits.sort()).toEqual([200, 500]);
      expect(delta('switchboard_webhook_attempts_total', { outcome: 'success' })).toBe(1);
      expect(delta('switchboard_webhook_attempts_total', { outcome: 'retry' })).toBe(1);
      expect(delta('switchboard_webhook_attempts_total', { outcome: 'failed' })).toBe(0);
      expect(delta('switchboard_webhook_failures_total', { reason: 'status' })).toBe(1);
      expect(delta('switchboard_webhook_failures_total', { reason: 'network' })).toBe(0);
      // The failing endpoint goes before its retry is due (5 s): nothing more is attempted.
      for (const id of endpoints) expect((await call(conn, 'DELETE', `/api/v1/webhook-endpoints/${id}`)).status).toBe(204);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('counts the event streams open now', async () => {
    const idle = await scrape();
    expect(sample(idle, 'switchboard_sse_connections')).toBe(0);
    const streams = [
      await SseStream.open(`${gateway.server.url}/api/v1/realtime/runs`, bearer(gateway.server.adminKey)),
      await SseStream.open(`${gateway.server.url}/api/v1/realtime/runs`, bearer(gateway.server.adminKey)),
    ];
    try {
      expect(sample(await scrape(), 'switchboard_sse_connections')).toBe(2);
    } finally {
      for (const s of streams) s.close();
    }
    await eventually('the streams closed', (s) => (sample(s, 'switchboard_sse_connections') === 0 ? true : undefined));
  });

  it("counts a gateway call's tokens and cost by provider kind and model alias", async () => {
    // 0.40 USD per million input tokens, 1.60 per million output tokens.
    const pricing = { inputMicrosPerMillionTokens: 400_000, outputMicrosPerMillionTokens: 1_600_000 };
    const alias = (await createAlias(gateway, { alias: aliasName('metrics'), upstreamModel: 'gpt-4.1-mini', api: 'chat', pricing })).alias;
    const labels = { provider: 'openai', model_alias: alias };
    gateway.provider.reply({ text: 'Hello there', usage: { input: 1000, output: 500 } });
    const res = await fetch(`${gateway.openaiBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(gateway.server.adminKey), 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(200);
    await res.json();
    const after = await eventually('the call recorded', (s) =>
      sample(s, 'switchboard_gateway_calls_total', { ...labels, outcome: 'succeeded' }) === 1 ? s : undefined,
    );
    expect(sample(after, 'switchboard_gateway_tokens_total', { ...labels, direction: 'input' })).toBe(1000);
    expect(sample(after, 'switchboard_gateway_tokens_total', { ...labels, direction: 'output' })).toBe(500);
    // 1000 × 0.40 + 500 × 1.60 per million: 1,200 micro-dollars.
    expect(sample(after, 'switchboard_gateway_cost_usd_total', labels)).toBeCloseTo(0.0012, 12);
    expect(sample(after, 'switchboard_http_requests_total', { operation_id: 'createChatCompletion', method: 'POST', status: '200' })).toBe(1);
  });
});

/** WORKERS=2: whichever worker a scrape reaches, and on METRICS_PORT (the primary), the numbers are the sum of both. */
const clusterSuite = onPostgres ? describe : describe.skip;
clusterSuite('GET /metrics with WORKERS=2', () => {
  let server: ServerProcess;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    server = await startServerProcess({ WORKERS: '2', LOG_LEVEL: 'info', METRICS_TOKEN: TOKEN, METRICS_PORT: String(metricsPort), RATE_LIMIT_READ: '100000' });
    await until('both workers listening', 20_000, () => (server.output().includes('Switchboard workers listening') ? true : undefined));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  /** GET on a connection of its own: node:cluster hands each new connection to the next worker. */
  const onNewConnection = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = get(`${server.url}${path}`, { agent: false, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });

  const healthAnsweredBy = () => new Set([...server.output().matchAll(/"pid":(\d+)[^\n]*"operationId":"getHealth"[^\n]*"msg":"request"/g)].map((m) => m[1]));
  const healthCount = (s: Samples) => sample(s, 'switchboard_http_requests_total', { operation_id: 'getHealth', method: 'GET', status: '200' });

  it('aggregates both workers on METRICS_PORT and on the API port, whichever worker answers', async () => {
    for (let i = 0; i < 10; i++) expect((await onNewConnection('/healthz')).status).toBe(200);
    expect(healthAnsweredBy().size).toBe(2);

    const primary = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(primary.status).toBe(200);
    const aggregated = parseMetrics(await primary.text());
    expect(healthCount(aggregated)).toBe(10);
    // Each worker has a pool of ten: summed.
    expect(sample(aggregated, 'switchboard_db_pool_max_connections')).toBe(20);
    // Read from the shared database: the same in both, not doubled.
    expect(sample(aggregated, 'switchboard_runs', { status: 'queued' })).toBe(0);

    // Four scrapes on the API's port, on new connections: both workers answer, each with the sum.
    for (let i = 0; i < 4; i++) {
      const scraped = await onNewConnection('/metrics', bearer(TOKEN));
      expect(scraped.status).toBe(200);
      expect(healthCount(parseMetrics(scraped.body))).toBe(10);
    }
    expect((await onNewConnection('/metrics')).status).toBe(401);
  });
});
