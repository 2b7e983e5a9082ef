import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { startPricedGateway, type Gateway } from './gateway-helpers.js';
import { createKey } from './helpers.js';
import { call, cancelRun, claim, expectProblem, label, newAgent, newRunner, runnerConn, type Conn, type Run } from './run-helpers.js';

type Budget = components['schemas']['Budget'];

/**
 * Budgets that hold under concurrency, on a server of the test's own (its ledger and budgets hold
 * only what the test made): runs reserve when created, gateway calls reserve an upper bound of
 * their cost before they go out, and both settle to what was spent.
 */
let gateway: Gateway;
let app: Conn;
let chat: string;

beforeAll(async () => {
  ({ gateway, chat } = await startPricedGateway(['budget.*'], { RATE_LIMIT_RUN: '100000' }));
  app = gateway.conn;
});
afterAll(() => gateway?.stop());

const createBudget = async (body: Record<string, unknown>) => {
  const r = await call<Budget>(app, 'POST', '/api/v1/budgets', { name: `budget ${label()}`, window: 'month', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const getBudget = async (id: string) => (await call<Budget>(app, 'GET', `/api/v1/budgets/${id}`)).body;
const alerts = async (budgetId: string) =>
  (
    await gateway
      .db('webhook_messages')
      .whereIn('event_type', ['budget.threshold', 'budget.exhausted'])
      .select<{ event_type: string; payload: string }[]>('event_type', 'payload')
  )
    .map((m) => ({ type: m.event_type, ...(JSON.parse(m.payload) as { data: { percent: number; budget: Budget } }).data }))
    .filter((a) => a.budget.id === budgetId)
    .map((a) => `${a.type} ${a.percent}`);

/** A chat completion sent as these exact bytes (the reservation prices one token per byte of them). */
const ask = (body: object, key = app.key) =>
  fetch(`${gateway.openaiBaseUrl}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('budgets', () => {
  it('are created on a scope of the application, count what it already spent this window, and only an admin changes them', async () => {
    const agent = await newAgent(app, { model: chat });
    const budget = await createBudget({ scope: { type: 'agent', id: agent.id }, amountMicros: 5_000_000 });
    expect(budget).toMatchObject({
      object: 'budget',
      scope: { type: 'agent', id: agent.id },
      window: 'month',
      thresholds: [80],
      runReservationMicros: 0,
      status: { spentMicros: 0, reservedMicros: 0, remainingMicros: 5_000_000, state: 'ok' },
    });
    const now = new Date();
    expect(budget.status.windowStart).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString());
    expect(budget.status.windowEnd).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());

    expectProblem(
      await call(app, 'POST', '/api/v1/budgets', {
        name: 'x',
        window: 'day',
        amountMicros: 1,
        scope: { type: 'agent', id: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab' },
      }),
      404,
      'not-found',
    );
    const mismatched = await call(app, 'POST', '/api/v1/budgets', { name: 'x', window: 'day', amountMicros: 1, scope: { type: 'end_user', id: agent.id } });
    expect(expectProblem(mismatched, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/scope/id' })]);
    expectProblem(
      await call(app, 'POST', '/api/v1/budgets', { name: 'x', window: 'day', amountMicros: 1, scope: { type: 'application', id: agent.id } }),
      422,
      'validation-error',
    );
    expectProblem(
      await call(app, 'POST', '/api/v1/budgets', { name: 'x', window: 'week', amountMicros: 0, scope: { type: 'application', id: null } }),
      422,
      'validation-error',
    );

    const writer = await createKey({ scopes: ['read', 'write'], by: app.key, baseUrl: app.baseUrl });
    const asWriter = { baseUrl: app.baseUrl, key: writer.secret };
    expectProblem(await call(asWriter, 'PATCH', `/api/v1/budgets/${budget.id}`, { amountMicros: 9_000_000_000 }), 403, 'forbidden');
    expect((await call<Budget>(asWriter, 'GET', `/api/v1/budgets/${budget.id}`)).status).toBe(200);

    const raised = await call<Budget>(app, 'PATCH', `/api/v1/budgets/${budget.id}`, { amountMicros: 8_000_000, thresholds: [90, 50] });
    expect(raised.body).toMatchObject({ amountMicros: 8_000_000, thresholds: [50, 90], status: { remainingMicros: 8_000_000 } });
    const listed = await call<{ data: Budget[] }>(app, 'GET', `/api/v1/budgets?scopeType=agent&scopeId=${agent.id}`);
    expect(listed.body.data.map((b) => b.id)).toEqual([budget.id]);
    expect((await call(app, 'DELETE', `/api/v1/budgets/${budget.id}`)).status).toBe(204);
    expectProblem(await call(app, 'GET', `/api/v1/budgets/${budget.id}`), 404, 'not-found');
  });

  it('let at most the runs that fit start when 50 are created at once, and give the rest 402', async () => {
    const tag = label();
    const agent = await newAgent(app, { model: chat, labels: [tag] });
    const budget = await createBudget({ scope: { type: 'agent', id: agent.id }, amountMicros: 10 * 250_000 + 100_000, runReservationMicros: 250_000 });
    const replies = await Promise.all(Array.from({ length: 50 }, () => call<Run>(app, 'POST', '/api/v1/runs', { agentId: agent.id })));
    const started = replies.filter((r) => r.status === 201);
    const refused = replies.filter((r) => r.status !== 201);
    expect(started).toHaveLength(10);
    for (const r of refused) expect(expectProblem(r, 402, 'budget-exceeded', budget.id).budgetId).toBe(budget.id);
    expect(Number(((await gateway.db('runs').where({ agent_id: agent.id }).count('* as n').first()) as { n: number | string }).n)).toBe(10);
    expect((await getBudget(budget.id)).status).toMatchObject({ spentMicros: 0, reservedMicros: 2_500_000, remainingMicros: 100_000 });
    // Reservations are not spending: no threshold passed yet.
    expect(await alerts(budget.id)).toEqual([]);

    // A run that ends lets go of its reservation: one more fits.
    expect((await cancelRun(app, started[0]!.body.id)).status).toBe(200);
    expect((await getBudget(budget.id)).status.reservedMicros).toBe(2_250_000);
    expect((await call(app, 'POST', '/api/v1/runs', { agentId: agent.id })).status).toBe(201);
    expectProblem(await call(app, 'POST', '/api/v1/runs', { agentId: agent.id }), 402, 'budget-exceeded');

    // A run's reported usage is spent out of its own reservation first.
    const runner = await newRunner(app, [tag]);
    const claimed = await claim(runnerConn(app.baseUrl, runner), runner.id);
    const reported = await call({ baseUrl: app.baseUrl, key: claimed.runToken.token }, 'POST', `/api/v1/runs/${claimed.run.id}/usage`, {
      requestId: 'own-call',
      model: 'elsewhere',
      costMicros: 100_000,
    });
    expect(reported.status).toBe(201);
    expect((await getBudget(budget.id)).status).toMatchObject({ spentMicros: 100_000, reservedMicros: 2_400_000, remainingMicros: 100_000, state: 'ok' });
  });

  it('hold under 30 concurrent gateway calls: each reserves an upper bound of its cost, and the budget is never overshot', async () => {
    const key = await createKey({ scopes: ['read', 'write'], by: app.key, baseUrl: app.baseUrl });
    const body = { model: chat, messages: [{ role: 'user', content: 'Summarise the refund policy.' }], max_tokens: 1000 };
    const bytes = Buffer.byteLength(JSON.stringify(body));
    // The estimate: every byte a token at 0.40 USD per million, 1000 output tokens at 1.60.
    const estimate = Math.round((bytes * 400_000 + 1000 * 1_600_000) / 1_000_000);
    const budget = await createBudget({ scope: { type: 'api_key', id: key.id }, amountMicros: 10 * estimate + Math.floor(estimate / 2), thresholds: [50, 80] });
    // Each call that goes out costs exactly its estimate: 10 fit, whatever the order (an 11th would get the provider's default answer).
    gateway.provider.reply(...Array.from({ length: 10 }, () => ({ text: 'Within 30 days.', usage: { input: bytes, output: 1000 } })));
    const answers = await Promise.all(Array.from({ length: 30 }, () => ask(body, key.secret)));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(10);
    for (const refused of answers.filter((a) => a.status !== 200)) {
      expect(refused.status).toBe(402);
      expect(await refused.json()).toMatchObject({ error: { type: 'insufficient_quota', code: 'budget_exceeded' } });
    }
    const rows = await gateway.db('usage_events').where({ key_id: key.id }).select<{ cost_micros: number | string }[]>('cost_micros');
    expect(rows).toHaveLength(10);
    const spent = rows.reduce((t, r) => t + Number(r.cost_micros), 0);
    expect(spent).toBe(10 * estimate);
    const status = (await getBudget(budget.id)).status;
    expect(status).toMatchObject({ spentMicros: spent, reservedMicros: 0, remainingMicros: Math.floor(estimate / 2) });
    expect(spent).toBeLessThanOrEqual(budget.amountMicros);
    // Each alert once: the refusals found it exhausted while the spending passed 50 and 80 %.
    expect((await alerts(budget.id)).sort()).toEqual(['budget.exhausted 100', 'budget.threshold 50', 'budget.threshold 80']);
  });

  it('count a streamed call at its exact cost, and a smaller call still fits what is left', async () => {
    const key = await createKey({ scopes: ['read', 'write'], by: app.key, baseUrl: app.baseUrl });
    const budget = await createBudget({ scope: { type: 'api_key', id: key.id }, amountMicros: 5_000, window: 'day' });
    gateway.provider.reply({ text: 'Streamed.', usage: { input: 300, output: 40 } });
    const streamed = await ask({ model: chat, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100, stream: true }, key.secret);
    expect(streamed.status).toBe(200);
    await streamed.text();
    // 300 x 0.40 + 40 x 1.60 = 184 micro-USD, spent once the stream ended.
    await expect.poll(async () => (await getBudget(budget.id)).status.spentMicros).toBe(184);
    expect((await getBudget(budget.id)).status.reservedMicros).toBe(0);
    // 4,816 micro-USD left: max_tokens 10,000 reserves over 16,000 and is refused; 100 fits.
    expect((await ask({ model: chat, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10_000 }, key.secret)).status).toBe(402);
    gateway.provider.reply({ text: 'Short.', usage: { input: 8, output: 2 } });
    expect((await ask({ model: chat, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100 }, key.secret)).status).toBe(200);
  });
});

type Approval = components['schemas']['Approval'];

describe('budgets that say wait', () => {
  const runOf = async (id: string) => (await call<Run>(app, 'GET', `/api/v1/runs/${id}`)).body;
  const approvalOf = async (run: Run) => (await call<Approval>(app, 'GET', `/api/v1/approvals/${run.waitingFor!.approvalId}`)).body;
  const decide = (as: Conn, run: Run, body: Record<string, unknown>) =>
    call<Approval>(as, 'POST', `/api/v1/approvals/${run.waitingFor!.approvalId}/decisions`, body);

  it('park the runs that do not fit on an approval for the admins, and admit them oldest first as room comes back', async () => {
    const agent = await newAgent(app, { model: chat, labels: [label()] });
    const budget = await createBudget({
      scope: { type: 'agent', id: agent.id },
      amountMicros: 10 * 250_000 + 100_000,
      runReservationMicros: 250_000,
      onExhausted: 'wait',
    });
    expect(budget.onExhausted).toBe('wait');
    const replies = await Promise.all(Array.from({ length: 50 }, () => call<Run>(app, 'POST', '/api/v1/runs', { agentId: agent.id })));
    for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const queued = replies.filter((r) => r.body.status === 'queued').map((r) => r.body);
    const waiting = replies
      .filter((r) => r.body.status === 'waiting')
      .map((r) => r.body)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    expect(queued).toHaveLength(10);
    expect(waiting).toHaveLength(40);
    // Waiting runs reserve nothing: the budget holds exactly the ten admitted.
    expect((await getBudget(budget.id)).status).toMatchObject({ spentMicros: 0, reservedMicros: 2_500_000, remainingMicros: 100_000 });
    const first = waiting[0]!;
    expect(first).toMatchObject({ waitingFor: { kind: 'budget', onExpire: 'cancel_run' }, requiredAction: null });
    expect(await approvalOf(first)).toMatchObject({
      kind: 'budget',
      status: 'pending',
      assignees: [{ type: 'role', role: 'admin' }],
      payload: { budgetId: budget.id, amountMicros: 2_600_000, runReservationMicros: 250_000 },
    });
    const pending = await call<{ data: Approval[] }>(app, 'GET', `/api/v1/approvals?kind=budget&status=pending&agentId=${agent.id}&pageSize=100`);
    expect(pending.body.data).toHaveLength(40);

    // A run that ends lets go of its reservation: the oldest waiting run takes it, and only that one.
    expect((await cancelRun(app, queued[0]!.id)).status).toBe(200);
    await expect.poll(async () => (await runOf(first.id)).status, { timeout: 10_000 }).toBe('queued');
    expect((await approvalOf(first)).status).toBe('cancelled');
    expect((await runOf(waiting[1]!.id)).status).toBe('waiting');
    expect((await getBudget(budget.id)).status).toMatchObject({ reservedMicros: 2_500_000, remainingMicros: 100_000 });

    // Raising the budget admits as many more as now fit, in order.
    expect((await call(app, 'PATCH', `/api/v1/budgets/${budget.id}`, { amountMicros: 13 * 250_000 + 100_000 })).status).toBe(200);
    await expect.poll(async () => (await runOf(waiting[3]!.id)).status, { timeout: 10_000 }).toBe('queued');
    for (const run of waiting.slice(1, 4)) expect((await runOf(run.id)).status).toBe('queued');
    for (const run of waiting.slice(4)) expect((await runOf(run.id)).status).toBe('waiting');
    expect((await getBudget(budget.id)).status).toMatchObject({ reservedMicros: 3_250_000, remainingMicros: 100_000 });
    expect(Number(((await gateway.db('runs').where({ agent_id: agent.id }).count('* as n').first()) as { n: number | string }).n)).toBe(50);
  });

  it('let an admin run a parked run over the budget (its calls pass and are counted) or cancel it; a writer cannot decide', async () => {
    const tag = label();
    const agent = await newAgent(app, { model: chat, labels: [tag] });
    // Every run reserves more than the budget holds: each one waits.
    const budget = await createBudget({ scope: { type: 'agent', id: agent.id }, amountMicros: 1_000, runReservationMicros: 5_000, onExhausted: 'wait' });
    const over = (await call<Run>(app, 'POST', '/api/v1/runs', { agentId: agent.id })).body;
    const refused = (await call<Run>(app, 'POST', '/api/v1/runs', { agentId: agent.id })).body;
    expect([over.status, refused.status]).toEqual(['waiting', 'waiting']);

    const writer = await createKey({ scopes: ['read', 'write'], by: app.key, baseUrl: app.baseUrl });
    expectProblem(await decide({ baseUrl: app.baseUrl, key: writer.secret }, over, { outcome: 'approve' }), 403, 'forbidden', 'admin');
    expectProblem(await decide(app, over, { outcome: 'request_changes', note: 'smaller' }), 422, 'validation-error');
    expect((await decide(app, over, { outcome: 'approve', note: 'Quarter end.' })).body.status).toBe('approved');
    expect(await runOf(over.id)).toMatchObject({ status: 'queued', waitingFor: null, requiredAction: null });
    expect((await decide(app, refused, { outcome: 'reject', note: 'Not this month.' })).body.status).toBe('rejected');
    expect(await runOf(refused.id)).toMatchObject({ status: 'cancelled', error: { code: 'budget_exceeded' } });

    // The approved run's calls go through the exhausted budget, and what they cost is spent in it.
    const runner = await newRunner(app, [tag]);
    const claimed = await claim(runnerConn(app.baseUrl, runner), runner.id);
    expect(claimed.run.id).toBe(over.id);
    gateway.provider.reply({ text: 'Over budget, approved.', usage: { input: 1_000, output: 500 } });
    const answer = await ask({ model: chat, messages: [{ role: 'user', content: 'Go on.' }], max_tokens: 600 }, claimed.runToken.token);
    expect(answer.status, await answer.clone().text()).toBe(200);
    // 1,000 x 0.40 + 500 x 1.60 = 1,200 micro-USD: over the 1,000 the budget holds, as approved.
    await expect.poll(async () => (await getBudget(budget.id)).status.spentMicros).toBe(1_200);
    expect((await getBudget(budget.id)).status).toMatchObject({ reservedMicros: 0, state: 'exhausted' });
  });

  it('record a run a task starts as cancelled when a budget that rejects has no room (schedules and triggers take the same path)', async () => {
    const agent = await newAgent(app, { model: chat, labels: [label()], autoStart: { assigned: true, mentioned: false } });
    await createBudget({ scope: { type: 'agent', id: agent.id }, amountMicros: 1_000, runReservationMicros: 5_000 });
    expectProblem(await call(app, 'POST', '/api/v1/runs', { agentId: agent.id }), 402, 'budget-exceeded');
    const task = await call<{ id: string }>(app, 'POST', '/api/v1/tasks', {
      title: 'Refund order 10-2291',
      status: 'todo',
      assignee: { type: 'agent', id: agent.id },
    });
    expect(task.status).toBe(201);
    const runs = (await call<{ data: Run[] }>(app, 'GET', `/api/v1/runs?agentId=${agent.id}`)).body.data;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'cancelled', triggeredBy: { type: 'task', id: task.body.id }, error: { code: 'budget_exceeded' } });
    expect(runs[0]!.error!.message).toContain('a new run reserves 0.005 USD');
  });
});

describe('the dashboard', () => {
  it('equals the sums computed from the raw tables, in one call', async () => {
    const r = await call<components['schemas']['Dashboard']>(app, 'GET', '/api/v1/dashboard');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const d = r.body;
    const db = gateway.db;
    const n = async (q: Promise<{ n: number | string } | undefined>) => Number((await q)?.n ?? 0);
    const countOf = (table: string, where: Record<string, unknown> | ((q: import('knex').Knex.QueryBuilder) => void)) =>
      n(db(table).where(where).first<{ n: number | string } | undefined>(db.raw('count(*) as n')));
    const since = new Date(Date.parse(d.generatedAt) - 86_400_000).toISOString();
    for (const status of ['queued', 'running', 'waiting'] as const) expect(d.runs.now[status], status).toBe(await countOf('runs', { status }));
    expect(d.runs.last24Hours.created).toBe(
      await countOf('runs', (q) => {
        q.where('created_at', '>=', since);
      }),
    );
    for (const status of ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'] as const) {
      expect(d.runs.last24Hours[status], status).toBe(
        await countOf('runs', (q) => {
          q.where({ status }).where('finished_at', '>=', since);
        }),
      );
    }
    expect(d.runs.now.queued + d.runs.now.running).toBeGreaterThan(0);
    const ledger = await db('usage_events').select<{ cost_micros: number | string | null; pricing_status: string }[]>('cost_micros', 'pricing_status');
    expect(d.costs.monthToDate).toMatchObject({
      costMicros: ledger.reduce((t, row) => t + Number(row.cost_micros ?? 0), 0),
      requests: ledger.length,
      unpricedRequests: ledger.filter((row) => row.pricing_status !== 'priced').length,
    });
    expect(d.costs.budgets.map((b) => b.id).sort()).toEqual((await db('budgets').pluck<string[]>('id')).sort());
    for (const budget of d.costs.budgets) {
      const windows = await db('budget_windows')
        .where({ budget_id: budget.id })
        .select<{ spent_micros: number | string; reserved_micros: number | string }[]>('*');
      expect(budget.status.spentMicros + budget.status.reservedMicros).toBe(
        windows.reduce((t, w) => t + Number(w.spent_micros) + Number(w.reserved_micros), 0),
      );
    }
    expect(d.approvals.pending).toBe(await countOf('approvals', { status: 'pending' }));
    expect(d.tasks.todo).toBe(await countOf('tasks', { status: 'todo' }));
    expect(d.webhooks.failing).toBe(
      await countOf('webhook_endpoints', (q) => {
        q.whereNull('disabled_reason').whereNotNull('failing_since');
      }),
    );
    expect(d.runners.total).toBe(await countOf('runners', {}));
    expect(d.runners.online).toBeGreaterThan(0);
    expect(d.runners.online).toBeLessThanOrEqual(d.runners.total);
    const forOne = await call(app, 'GET', '/api/v1/dashboard', undefined, { 'Switchboard-User': 'customer-1' });
    expectProblem(forOne, 403, 'forbidden', 'whole application');
  });
});
