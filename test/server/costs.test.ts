import type { Knex } from 'knex';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { startPricedGateway, type Gateway } from './gateway-helpers.js';
import { call, claim, expectProblem, getRun, label, newAgent, newRun, newRunner, runnerConn, type Claim, type Conn } from './run-helpers.js';
import { until } from '../support/until.js';

type UsageEvent = components['schemas']['UsageEvent'];
type CostReport = components['schemas']['CostReport'];
type CostExport = components['schemas']['CostExport'];

/**
 * The usage ledger and the cost reports read from it: gateway calls, runs' own reports and their
 * completion, on a server of the test's own (its ledger holds only what the test made).
 */
let gateway: Gateway;
let app: Conn;
let chat: string;

beforeAll(async () => {
  ({ gateway, chat } = await startPricedGateway(['usage.*']));
  app = gateway.conn;
});
afterAll(() => gateway?.stop());

/** A run of a new agent on the chat alias, claimed: its run token and lease. */
async function claimedRun(): Promise<Claim & { agentId: string; runnerToken: string }> {
  const tag = label();
  const agent = await newAgent(app, { model: chat, labels: [tag] });
  const runner = await newRunner(app, [tag]);
  await newRun(app, agent.id);
  const claimed = await claim(runnerConn(app.baseUrl, runner), runner.id);
  return { ...claimed, agentId: agent.id, runnerToken: runner.token };
}

const asRun = (c: Claim): Conn => ({ baseUrl: app.baseUrl, key: c.runToken.token });
const report = (c: Claim, body: Record<string, unknown>, runId = c.run.id) => call<UsageEvent>(asRun(c), 'POST', `/api/v1/runs/${runId}/usage`, body);
const costs = (query: string) => call<CostReport>(app, 'GET', `/api/v1/costs?${query}`);
const unpricedMessages = () => gateway.db('webhook_messages').where({ event_type: 'usage.unpriced' }).select<{ payload: string }[]>('payload');
/** How many ledger entries match (PostgreSQL counts as text). */
const ledgerCount = async (where: Record<string, unknown> | ((q: Knex.QueryBuilder) => void)) =>
  Number(((await gateway.db('usage_events').where(where).count('* as n').first()) as { n: number | string }).n);

describe('a run reports the usage of calls it made itself', () => {
  it('records each report once, priced by the run, by the alias it names, or flagged unpriced, never free', async () => {
    const c = await claimedRun();
    const own = await report(c, { requestId: 'chatcmpl-1', model: 'gpt-4o-mini', provider: 'openai', inputTokens: 1200, outputTokens: 310, costMicros: 366 });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    expect(own.body).toMatchObject({
      object: 'usage_event',
      source: 'runner_report',
      requestId: `${c.run.id}:chatcmpl-1`,
      runId: c.run.id,
      agentId: c.agentId,
      model: 'gpt-4o-mini',
      provider: 'openai',
      costMicros: 366,
      pricingStatus: 'priced',
    });
    expect(own.body.apiKeyId).toMatch(/^key_/);
    // The same request id again records nothing and answers the first entry.
    const again = await report(c, { requestId: 'chatcmpl-1', model: 'gpt-4o-mini', inputTokens: 9, costMicros: 9 });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(own.body);

    // Priced at the alias's prices: 1000 x 0.40 + 500 x 1.60 = 1200 micro-USD.
    const byAlias = await report(c, { requestId: 'chatcmpl-2', model: chat, inputTokens: 1000, outputTokens: 500 });
    expect(byAlias.body).toMatchObject({ costMicros: 1200, pricingStatus: 'priced' });

    const before = (await unpricedMessages()).length;
    const unknown = await report(c, { requestId: 'chatcmpl-3', model: 'my-finetune', inputTokens: 50, outputTokens: 5 });
    expect(unknown.body).toMatchObject({ costMicros: null, pricingStatus: 'unpriced' });
    const flagged = await unpricedMessages();
    expect(flagged).toHaveLength(before + 1);
    expect(JSON.parse(flagged.at(-1)!.payload)).toMatchObject({ type: 'usage.unpriced', data: { id: unknown.body.id, pricingStatus: 'unpriced' } });

    // The run's totals are the ledger's: reports, and the completion's own report, once each.
    const done = await call({ baseUrl: app.baseUrl, key: c.runnerToken }, 'POST', `/api/v1/leases/${c.lease.id}/complete`, {
      fencingToken: c.lease.fencingToken,
      status: 'succeeded',
      output: {},
      usage: { inputTokens: 100, outputTokens: 10 },
      costMicros: 34,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const run = await getRun(app, c.run.id);
    expect(run.costMicros).toBe(366 + 1200 + 34);
    expect(run.usage).toEqual({ inputTokens: 1200 + 1000 + 50 + 100, outputTokens: 310 + 500 + 5 + 10 });
    const rows = await gateway.db('usage_events').where({ run_id: c.run.id }).select('request_id', 'source');
    expect(rows.map((r: { request_id: string }) => r.request_id).sort()).toEqual(
      [`${c.run.id}#completion`, `${c.run.id}:chatcmpl-1`, `${c.run.id}:chatcmpl-2`, `${c.run.id}:chatcmpl-3`].sort(),
    );
    // A run that ended reports nothing more: its token died with its lease.
    expect((await report(c, { requestId: 'late', model: chat, inputTokens: 1 })).status).toBe(401);
  });

  it("refuses another run's token, a key, and cached tokens beyond the input", async () => {
    const a = await claimedRun();
    const b = await claimedRun();
    expectProblem(await report(a, { requestId: 'x', model: chat }, b.run.id), 403, 'forbidden', 'own run');
    expect((await call(app, 'POST', `/api/v1/runs/${a.run.id}/usage`, { requestId: 'x', model: chat })).status).toBe(401);
    const tooMany = await report(a, { requestId: 'x', model: chat, inputTokens: 10, cachedInputTokens: 11 });
    expect(expectProblem(tooMany, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/cachedInputTokens' })]);
    expectProblem(await report(a, { requestId: 'bad id with spaces', model: chat }), 422, 'validation-error');
    expect(await ledgerCount({ run_id: a.run.id })).toBe(0);
  });
});

describe('cost reports', () => {
  it('equal the sums of the raw ledger, in total and per group, and count unpriced usage apart', async () => {
    const c = await claimedRun();
    await report(c, { requestId: 'r1', model: chat, inputTokens: 2000, outputTokens: 1000 });
    await report(c, { requestId: 'r2', model: 'elsewhere', inputTokens: 10, outputTokens: 1 });
    gateway.provider.reply({ text: 'Streamed answer.', usage: { input: 300, output: 40 } });
    const openai = new OpenAI({ apiKey: app.key, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hi' }], stream: true });
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk');
    await until(
      'the streamed call recorded',
      5000,
      async () => ((await gateway.db('usage_events').where({ source: 'gateway' }).first()) as unknown) ?? undefined,
    );

    const raw = (await gateway.db('usage_events').select('*')) as Record<string, string | number | null>[];
    const sum = (rows: typeof raw, column: string) => rows.reduce((total, r) => total + Number(r[column] ?? 0), 0);
    const whole = await costs('');
    expect(whole.status, JSON.stringify(whole.body)).toBe(200);
    expect(whole.body.totals).toEqual({
      costMicros: sum(raw, 'cost_micros'),
      requests: raw.length,
      unpricedRequests: raw.filter((r) => r.pricing_status !== 'priced').length,
      inputTokens: sum(raw, 'input_tokens'),
      outputTokens: sum(raw, 'output_tokens'),
    });
    // The streamed call is costed exactly: 300 x 0.40 + 40 x 1.60 = 184 micro-USD.
    const streamed = raw.find((r) => r.source === 'gateway' && Number(r.input_tokens) === 300)!;
    expect(Number(streamed.cost_micros)).toBe(184);

    const byAgent = await costs('groupBy=agent');
    expect(byAgent.body.groupBy).toBe('agent');
    for (const group of byAgent.body.groups) {
      const rows = raw.filter((r) => r.agent_id === group.key);
      expect(group).toEqual({
        key: group.key,
        costMicros: sum(rows, 'cost_micros'),
        requests: rows.length,
        unpricedRequests: rows.filter((r) => r.pricing_status !== 'priced').length,
        inputTokens: sum(rows, 'input_tokens'),
        outputTokens: sum(rows, 'output_tokens'),
      });
    }
    expect(byAgent.body.groups.map((g) => g.costMicros)).toEqual([...byAgent.body.groups.map((g) => g.costMicros)].sort((x, y) => y - x));
    expect(byAgent.body.groups.reduce((t, g) => t + g.requests, 0)).toBe(raw.length);

    const byModel = await costs('groupBy=model&limit=1');
    expect(byModel.body.groups).toHaveLength(1);
    expect(byModel.body.hasMore).toBe(true);
    const byDay = await costs('groupBy=day');
    expect(byDay.body.groups).toEqual([expect.objectContaining({ key: new Date().toISOString().slice(0, 10), requests: raw.length })]);
    const ofAgent = await costs(`agentId=${c.agentId}&groupBy=source`);
    expect(ofAgent.body.groups).toEqual([expect.objectContaining({ key: 'runner_report', requests: 2, unpricedRequests: 1, costMicros: 2400 })]);
  });

  it('cover this UTC month by default, and refuse an empty or longer than a year range', async () => {
    const now = new Date();
    const r = await costs('');
    expect(r.body.from).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString());
    expect(r.body.groupBy).toBeNull();
    expect(r.body.groups).toEqual([]);
    const before = await costs('from=2020-01-01T00:00:00Z&to=2020-01-31T00:00:00Z');
    expect(before.body.totals).toEqual({ costMicros: 0, requests: 0, unpricedRequests: 0, inputTokens: 0, outputTokens: 0 });
    expectProblem(await costs('from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z'), 422, 'validation-error', 'must be before');
    expectProblem(await costs('from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'), 422, 'validation-error', '366 days');
    expect(expectProblem(await costs('groupBy=colour'), 422, 'validation-error').errors).toEqual([expect.objectContaining({ parameter: 'groupBy' })]);
  });
});

describe('cost exports', () => {
  it('write every ledger entry (or group) to a CSV whose cells a spreadsheet cannot run', async () => {
    const c = await claimedRun();
    await report(c, { requestId: 'formula', model: '=HYPERLINK("http://attacker.test","x")', inputTokens: 5, costMicros: 7 });
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const created = await call<CostExport>(app, 'POST', '/api/v1/costs/exports', { from, to });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.headers.get('location')).toBe(`/api/v1/costs/exports/${created.body.id}`);
    expect(created.body).toMatchObject({ object: 'cost_export', status: 'queued', format: 'csv', groupBy: null });
    const done = await until('the export written', 10_000, async () => {
      const r = await call<CostExport>(app, 'GET', `/api/v1/costs/exports/${created.body.id}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    const file = await fetch(`${app.baseUrl}/api/v1/costs/exports/${done.id}/content`, { headers: { authorization: `Bearer ${app.key}` } });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="costs-${done.id}.csv"`);
    const text = await file.text();
    const lines = text.trimEnd().split('\r\n');
    const count = await ledgerCount((q) => {
      q.where('created_at', '>=', from);
    });
    expect(lines).toHaveLength(count + 1);
    expect(done.rowCount).toBe(count);
    expect(lines[0]).toMatch(/^id,createdAt,source,requestId,model,/);
    expect(text).toContain(`"'=HYPERLINK(""http://attacker.test"",""x"")"`);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(text).digest('hex')).toBe(done.sha256);

    const grouped = await call<CostExport>(app, 'POST', '/api/v1/costs/exports', { from, to, groupBy: 'agent', format: 'ndjson' });
    const written = await until('the grouped export written', 10_000, async () => {
      const r = await call<CostExport>(app, 'GET', `/api/v1/costs/exports/${grouped.body.id}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    const groups = (
      await (await fetch(`${app.baseUrl}/api/v1/costs/exports/${written.id}/content`, { headers: { authorization: `Bearer ${app.key}` } })).text()
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string | null; requests: number });
    expect(groups.reduce((t, g) => t + g.requests, 0)).toBe(count);
    expectProblem(await call(app, 'POST', '/api/v1/costs/exports', { from: to, to: from }), 422, 'validation-error', 'must be before');
  });
});
