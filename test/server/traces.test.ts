import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { startBuiltinRunner, startWorker } from '@switchboard/sdk/runner';
import { startOtlpReceiver, SpanKind, type Span } from '../support/otlp-receiver.js';
import { startServerProcess, onPostgres, type ServerProcess } from '../support/server-process.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';
import { until } from '../support/until.js';
import { call, claimReq, type Conn, type Run } from './run-helpers.js';

/**
 * OpenTelemetry traces, end to end: a server process exporting OTLP/HTTP (JSON) to a receiver on
 * loopback, as it would to a collector, with a short batch delay.
 */
const DB_SYSTEM = onPostgres ? 'postgresql' : 'sqlite';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

type Otlp = Awaited<ReturnType<typeof startOtlpReceiver>>;
let otlp: Otlp;
let server: ServerProcess;
let provider: TestProvider;
let conn: Conn;
let applicationId: string;
const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];
const hookServer = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    hooks.push({ headers: req.headers, body });
    res.writeHead(200).end('ok');
  });
});

const tracingEnv = (endpoint: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_SERVICE_NAME: 'switchboard-traces-test',
  OTEL_BSP_SCHEDULE_DELAY: '100',
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  WEBHOOK_INTERVAL_MS: '200',
  MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
});

/** The spans received so far that `match`, once there are at least `count` of them. */
const spansWhere = (what: string, match: (s: Span) => boolean, count = 1) =>
  until(what, 15_000, () => {
    const found = otlp.spans.filter(match);
    return found.length >= count ? found : undefined;
  });
const serverSpanOf = async (operationId: string, match: (s: Span) => boolean = () => true) =>
  (await spansWhere(`the ${operationId} span`, (s) => s.kind === SpanKind.SERVER && s.attributes['switchboard.operation_id'] === operationId && match(s)))[0]!;
const childrenOf = (span: Span) => otlp.spans.filter((s) => s.traceId === span.traceId && s.parentSpanId === span.spanId);
const dbChildrenOf = (span: Span) => childrenOf(span).filter((s) => s.attributes['db.system'] === DB_SYSTEM);

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  provider = await startTestProvider();
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  server = await startServerProcess(tracingEnv(otlp.url));
  conn = { baseUrl: server.url, key: server.adminKey };
  const keys = await call<{ data: { applicationId: string }[] }>(conn, 'GET', '/api/v1/api-keys');
  applicationId = keys.body.data[0]!.applicationId;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await provider?.close();
  await otlp?.close();
  await new Promise<void>((resolve) => {
    hookServer.close(() => resolve());
    hookServer.closeAllConnections();
  });
});

describe('request spans', () => {
  it('a request is one SERVER span named by its operation, with its statements as child spans and never their values', async () => {
    const name = `agent-${randomBytes(8).toString('hex')}`;
    const created = await call(conn, 'POST', '/api/v1/agents', { name, model: 'gpt-4.1', instructions: `secret-${name}` });
    expect(created.status).toBe(201);

    const span = await serverSpanOf('createAgent');
    expect(span.name).toBe('POST /api/v1/agents createAgent');
    expect(span.parentSpanId).toBeUndefined();
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/agents',
      'url.path': '/api/v1/agents',
      'http.response.status_code': 201,
      'switchboard.application_id': applicationId,
    });
    expect(span.resource['service.name']).toBe('switchboard-traces-test');

    const statements = dbChildrenOf(span);
    expect(statements.length).toBeGreaterThanOrEqual(2);
    for (const s of statements) {
      expect(s.kind).toBe(SpanKind.CLIENT);
      expect(s.attributes['db.system.name']).toBe(DB_SYSTEM);
      expect(s.startMs).toBeGreaterThanOrEqual(span.startMs);
      expect(s.endMs, String(s.attributes['db.query.text'])).toBeLessThanOrEqual(span.endMs);
    }
    const insert = statements.find((s) => /^insert into [`"]agents[`"] /.test(String(s.attributes['db.query.text'])));
    expect(insert?.name).toBe('insert');
    expect(insert?.attributes['db.operation.name']).toBe('insert');
    expect(insert?.attributes['db.query.text']).toMatch(/ values \((\?|\$1)(, (\?|\$\d+)){23}\)/);
    // Bound values never reach a span: not the agent's name, not its instructions.
    const everything = JSON.stringify(otlp.spans);
    expect(everything).not.toContain(name);
  });

  it('a request carrying a W3C traceparent continues the caller’s trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const r = await call(conn, 'GET', '/api/v1/agents?pageSize=1', undefined, { traceparent: `00-${traceId}-${parentId}-01` });
    expect(r.status).toBe(200);
    const span = await serverSpanOf('listAgents', (s) => s.traceId === traceId);
    expect(span.parentSpanId).toBe(parentId);
    expect(span.name).toBe('GET /api/v1/agents listAgents');
    expect(dbChildrenOf(span).length).toBeGreaterThanOrEqual(1);
  });

  it('an unknown route is traced with its status and no operation', async () => {
    const traceId = randomBytes(16).toString('hex');
    const r = await call(conn, 'GET', '/api/v1/no-such-thing', undefined, { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
    expect(r.status).toBe(404);
    const [span] = await spansWhere('the 404 span', (s) => s.traceId === traceId);
    expect(span!.name).toBe('GET');
    expect(span!.attributes['http.response.status_code']).toBe(404);
    expect(span!.attributes['http.route']).toBeUndefined();
  });
});

describe('a run in one trace', () => {
  it('created, claimed by the SDK runner, its events and completion, and the run span share the creating request’s trace', async () => {
    const tag = `traces-${randomBytes(4).toString('hex')}`;
    const agent = await call(conn, 'POST', '/api/v1/agents', { name: `agent-${tag}`, model: 'gpt-4.1', labels: [tag] });
    expect(agent.status).toBe(201);
    const runner = await call<{ id: string; token: string }>(conn, 'POST', '/api/v1/runners', { name: `runner-${tag}`, labels: [tag] });
    expect(runner.status).toBe(201);
    const created = await call<Run>(conn, 'POST', '/api/v1/runs', { agentId: agent.body.id, input: { n: 1 } });
    expect(created.status).toBe(201);
    const createSpan = await serverSpanOf('createRun');
    const traceId = createSpan.traceId;

    const worker = startWorker(
      new Switchboard({ baseUrl: server.url, apiKey: runner.body.token }),
      { runnerId: runner.body.id, waitSeconds: 1 },
      async (ctx) => {
        await ctx.log('working');
        return { output: { done: true } };
      },
    );
    try {
      await until('the run succeeds', 15_000, async () => {
        const run = (await call<Run>(conn, 'GET', `/api/v1/runs/${created.body.id}`)).body;
        return run.status === 'succeeded' ? run : undefined;
      });
    } finally {
      await worker.stop(2000);
    }
    const run = (await call<Run & { finishedAt: string }>(conn, 'GET', `/api/v1/runs/${created.body.id}`)).body;

    const [claim] = await spansWhere('the claim span', (s) => s.name === 'claim' && s.attributes['switchboard.run_id'] === run.id);
    expect(claim!.traceId).toBe(traceId);
    expect(claim!.parentSpanId).toBe(createSpan.spanId);
    expect(claim!.attributes).toMatchObject({
      'switchboard.runner_id': runner.body.id,
      'switchboard.run.attempt': 1,
      'switchboard.application_id': applicationId,
    });
    // The claim request itself is the runner's: the claim span links to it.
    const claimRequest = otlp.spans.find((s) => s.spanId === claim!.links[0]?.spanId);
    expect(claimRequest?.attributes['switchboard.operation_id']).toBe('claimRun');

    // The runner's calls for the run carry the claim's traceparent: children of the claim span.
    const events = await serverSpanOf('appendRunEvents', (s) => s.traceId === traceId);
    const completed = await serverSpanOf('completeRun', (s) => s.traceId === traceId);
    expect(events.parentSpanId).toBe(claim!.spanId);
    expect(completed.parentSpanId).toBe(claim!.spanId);
    expect(completed.attributes['http.response.status_code']).toBe(200);
    expect(dbChildrenOf(completed).length).toBeGreaterThanOrEqual(1);

    const [runSpan] = await spansWhere('the run span', (s) => s.name === 'run' && s.attributes['switchboard.run_id'] === run.id);
    expect(runSpan!.traceId).toBe(traceId);
    expect(runSpan!.parentSpanId).toBe(createSpan.spanId);
    expect(runSpan!.startMs).toBe(Date.parse(run.createdAt));
    expect(runSpan!.endMs).toBe(Date.parse(run.finishedAt));
    expect(runSpan!.attributes).toMatchObject({ 'switchboard.run.status': 'succeeded', 'switchboard.agent_id': agent.body.id, 'switchboard.run.attempt': 1 });
  });

  it('a raw claim answers the run’s traceparent, continuing the trace of the request that created the run', async () => {
    const tag = `traces-${randomBytes(4).toString('hex')}`;
    const agent = await call(conn, 'POST', '/api/v1/agents', { name: `agent-${tag}`, model: 'gpt-4.1', labels: [tag] });
    const runner = await call<{ id: string; token: string }>(conn, 'POST', '/api/v1/runners', { name: `runner-${tag}`, labels: [tag] });
    const callerTrace = randomBytes(16).toString('hex');
    const created = await call<Run>(
      conn,
      'POST',
      '/api/v1/runs',
      { agentId: agent.body.id },
      { traceparent: `00-${callerTrace}-${randomBytes(8).toString('hex')}-01` },
    );
    expect(created.status).toBe(201);
    const claimed = await claimReq({ baseUrl: server.url, key: runner.body.token }, runner.body.id);
    expect(claimed.status).toBe(200);
    const [, traceId, claimSpanId] = TRACEPARENT.exec(claimed.body.traceparent ?? '') ?? [];
    // The caller's trace goes on through the run.
    expect(traceId).toBe(callerTrace);
    const [claim] = await spansWhere('the claim span', (s) => s.spanId === claimSpanId);
    expect(claim!.name).toBe('claim');
    expect(claim!.attributes['switchboard.run_id']).toBe(created.body.id);
  });
});

describe('outgoing calls', () => {
  it('a webhook delivery attempt is a CLIENT span, and the receiver is sent its traceparent', async () => {
    const url = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    const endpoint = await call(conn, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes: ['agent.created'] });
    expect(endpoint.status).toBe(201);
    const agent = await call(conn, 'POST', '/api/v1/agents', { name: `agent-${randomBytes(4).toString('hex')}`, model: 'gpt-4.1' });
    const hook = await until('the delivery', 15_000, () => hooks.find((h) => h.body.includes(agent.body.id)));
    const [, traceId, spanId] = TRACEPARENT.exec(String(hook.headers.traceparent)) ?? [];
    expect(traceId).toBeDefined();
    const [span] = await spansWhere('the delivery span', (s) => s.spanId === spanId);
    expect(span!.traceId).toBe(traceId);
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.name).toBe('webhook delivery');
    // Its own trace: not the trace of the request whose commit woke the deliverer.
    expect(span!.parentSpanId).toBeUndefined();
    expect(span!.attributes).toMatchObject({
      'switchboard.webhook.endpoint_id': endpoint.body.id,
      'switchboard.webhook.message_id': hook.headers['webhook-id'],
      'switchboard.webhook.attempt': 1,
      'switchboard.webhook.outcome': 'succeeded',
      'http.response.status_code': 200,
      'switchboard.application_id': applicationId,
    });
  });

  it('a gateway call has a CLIENT span per upstream attempt with gen_ai attributes, and never the prompt or the answer', async () => {
    const made = await call(conn, 'POST', '/api/v1/model-providers', { name: 'Test provider', kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
    expect(made.status).toBe(201);
    expect((await call(conn, 'POST', '/api/v1/models', { alias: 'assistant', providerId: made.body.id, upstreamModel: 'test-large' })).status).toBe(201);
    // The first attempt is refused (retried: 503), the second answers.
    provider.reply({ status: 503, error: { message: 'busy' } }, { text: 'the secret answer', usage: { input: 17, output: 5 }, model: 'test-large-0613' });
    const r = await call(conn, 'POST', '/api/v1/llm/openai/v1/chat/completions', {
      model: 'assistant',
      messages: [{ role: 'user', content: 'the secret prompt' }],
    });
    expect(r.status).toBe(200);

    const request = await serverSpanOf('createChatCompletion');
    const attempts = await spansWhere('two attempt spans', (s) => s.traceId === request.traceId && s.attributes['gen_ai.operation.name'] === 'chat', 2);
    attempts.sort((a, b) => a.startMs - b.startMs);
    for (const s of attempts) {
      expect(s.kind).toBe(SpanKind.CLIENT);
      expect(s.parentSpanId).toBe(request.spanId);
      expect(s.name).toBe('chat test-large');
      expect(s.attributes).toMatchObject({
        'gen_ai.system': 'openai-compatible',
        'gen_ai.request.model': 'test-large',
        'switchboard.model.alias': 'assistant',
      });
    }
    expect(attempts[0]!.attributes).toMatchObject({ 'switchboard.gateway.attempt': 1, 'http.response.status_code': 503, 'error.type': '503' });
    expect(attempts[0]!.status.code).toBe(2);
    expect(attempts[1]!.attributes).toMatchObject({
      'switchboard.gateway.attempt': 2,
      'http.response.status_code': 200,
      'gen_ai.response.model': 'test-large-0613',
      'gen_ai.usage.input_tokens': 17,
      'gen_ai.usage.output_tokens': 5,
    });
    const everything = JSON.stringify(otlp.spans);
    expect(everything).not.toContain('the secret prompt');
    expect(everything).not.toContain('the secret answer');
  });
});

describe('the built-in runner', () => {
  it('an llm run’s gateway calls join the run’s trace, their attempts with gen_ai attributes', async () => {
    const tag = `traces-${randomBytes(4).toString('hex')}`;
    const made = await call(conn, 'POST', '/api/v1/model-providers', { name: `Provider ${tag}`, kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
    expect((await call(conn, 'POST', '/api/v1/models', { alias: tag, providerId: made.body.id, upstreamModel: 'test-small' })).status).toBe(201);
    const agent = await call(conn, 'POST', '/api/v1/agents', { name: `agent-${tag}`, model: tag, labels: [tag] });
    const runner = await call<{ id: string; token: string }>(conn, 'POST', '/api/v1/runners', { name: `runner-${tag}`, labels: [tag] });
    provider.reply({ text: 'done', usage: { input: 11, output: 3 } });
    const traceId = randomBytes(16).toString('hex');
    const created = await call<Run>(
      conn,
      'POST',
      '/api/v1/runs',
      { agentId: agent.body.id, input: { prompt: 'hello' } },
      { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    );
    expect(created.status).toBe(201);
    const worker = startBuiltinRunner({ baseUrl: server.url, runnerId: runner.body.id, token: runner.body.token, concurrency: 1 });
    try {
      await until('the run succeeds', 20_000, async () =>
        (await call<Run>(conn, 'GET', `/api/v1/runs/${created.body.id}`)).body.status === 'succeeded' ? true : undefined,
      );
    } finally {
      await worker.stop(2000);
    }
    const gatewayCall = await serverSpanOf('createChatCompletion', (s) => s.traceId === traceId);
    const [claim] = await spansWhere('the claim span', (s) => s.name === 'claim' && s.attributes['switchboard.run_id'] === created.body.id);
    expect(gatewayCall.parentSpanId).toBe(claim!.spanId);
    const [upstream] = await spansWhere(
      'the attempt span',
      (s) => s.parentSpanId === gatewayCall.spanId && s.kind === SpanKind.CLIENT && s.name === 'chat test-small',
    );
    expect(upstream!.attributes).toMatchObject({ 'gen_ai.request.model': 'test-small', 'gen_ai.usage.input_tokens': 11, 'gen_ai.usage.output_tokens': 3 });
  });
});

describe('configuration', () => {
  it('spans still buffered are sent when the server stops', async () => {
    const own = await startOtlpReceiver();
    const slow = await startServerProcess({ ...tracingEnv(own.url), OTEL_BSP_SCHEDULE_DELAY: '600000' });
    try {
      expect((await call({ baseUrl: slow.url, key: slow.adminKey }, 'GET', '/api/v1/agents')).status).toBe(200);
      expect(own.spans).toHaveLength(0);
    } finally {
      await slow.stop();
    }
    expect(own.spans.filter((s) => s.attributes['switchboard.operation_id'] === 'listAgents')).toHaveLength(1);
    await own.close();
  }, 60_000);

  it('with no OTLP endpoint configured nothing is sent and claims carry no traceparent', async () => {
    const own = await startOtlpReceiver();
    // Other exporters' variables do not turn traces on.
    const off = await startServerProcess({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${own.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '100' });
    try {
      const offConn = { baseUrl: off.url, key: off.adminKey };
      const agent = await call(offConn, 'POST', '/api/v1/agents', { name: 'agent-off', model: 'gpt-4.1', labels: ['off'] });
      const runner = await call<{ id: string; token: string }>(offConn, 'POST', '/api/v1/runners', { name: 'runner-off', labels: ['off'] });
      await call(
        offConn,
        'POST',
        '/api/v1/runs',
        { agentId: agent.body.id },
        { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` },
      );
      const claimed = await claimReq({ baseUrl: off.url, key: runner.body.token }, runner.body.id);
      expect(claimed.status).toBe(200);
      expect('traceparent' in claimed.body).toBe(false);
    } finally {
      await off.stop();
    }
    expect(own.requests()).toBe(0);
    await own.close();
  }, 60_000);
});
