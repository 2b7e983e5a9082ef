import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { components } from '../../server/src/generated/openapi.js';
import { call, expectInvalidTransition, expectProblem, isolatedApp, newAgent, runEvents, type Conn, type Run } from './run-helpers.js';

type TriggerWithSecret = components['schemas']['TriggerWithSecret'];
type Invocation = components['schemas']['TriggerInvocation'];

let app: Conn;
let other: Conn;

beforeAll(async () => {
  const [a, b] = await Promise.all([isolatedApp('triggers'), isolatedApp('triggers-other')]);
  app = { baseUrl: inject('auditUrl'), key: a.key };
  other = { baseUrl: inject('auditUrl'), key: b.key };
});

async function newTrigger(body: Record<string, unknown>): Promise<TriggerWithSecret> {
  const agent = body.agentId ? undefined : await newAgent(app);
  const r = await call<TriggerWithSecret>(app, 'POST', '/api/v1/triggers', { name: 'inbound', agentId: agent?.id, ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** Calls the inbound URL with exactly these bytes, as an external system would. */
async function invoke(trigger: { url: string }, payload: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${inject('serverUrl')}${trigger.url}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  return { status: res.status, body: (await res.json()) as Invocation & { code?: string; errors?: { pointer: string }[] } };
}

const signed = (secret: string, body: string, id = `msg_${Math.random().toString(36).slice(2)}`, at = new Date()) => ({
  'webhook-id': id,
  'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
  'webhook-signature': new Webhook(secret).sign(id, at, body),
});

const runsOf = async (agentId: string) => (await call<{ data: Run[] }>(app, 'GET', `/api/v1/runs?agentId=${agentId}&pageSize=100`)).body.data;

describe('inbound triggers', () => {
  it('creates a signature trigger whose secret is shown once, and starts a run from a signed call', async () => {
    const trigger = await newTrigger({});
    expect(trigger).toMatchObject({ object: 'trigger', status: 'active', authentication: 'signature', inputMapping: null, url: `/api/v1/hooks/${trigger.id}` });
    expect(trigger.secret).toMatch(/^whsec_/);
    const fetched = await call(app, 'GET', `/api/v1/triggers/${trigger.id}`);
    expect(fetched.body).not.toHaveProperty('secret');

    const body = JSON.stringify({ order: 42, customer: { name: 'Ada' } });
    const res = await invoke(trigger, body, signed(trigger.secret, body));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'trigger_invocation', triggerId: trigger.id, duplicate: false });
    const run = (await call<Run>(app, 'GET', `/api/v1/runs/${res.body.runId}`)).body;
    expect(run).toMatchObject({
      agentId: trigger.agentId,
      status: 'queued',
      input: { order: 42, customer: { name: 'Ada' } },
      triggeredBy: { type: 'trigger', id: trigger.id },
    });
  });

  it('refuses unsigned, wrongly signed, tampered and stale calls with 401, starting nothing', async () => {
    const trigger = await newTrigger({});
    const body = JSON.stringify({ a: 1 });
    const cases: [string, Record<string, string>, string?][] = [
      ['no signature', {}],
      ['another secret', signed(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, body)],
      ['tampered body', signed(trigger.secret, body), JSON.stringify({ a: 2 })],
      ['stale timestamp', signed(trigger.secret, body, 'msg_stale', new Date(Date.now() - 10 * 60_000))],
    ];
    for (const [name, headers, sent] of cases) {
      const res = await invoke(trigger, sent ?? body, headers);
      expect(res.status, name).toBe(401);
      expect(res.body.code, name).toBe('unauthorized');
    }
    expect(await runsOf(trigger.agentId)).toEqual([]);
  });

  it('authenticates a token trigger with its bearer token', async () => {
    const trigger = await newTrigger({ authentication: 'token' });
    expect(trigger.secret).toMatch(/^sbt_/);
    expect((await invoke(trigger, { x: 1 }, { Authorization: `Bearer ${trigger.secret}` })).status).toBe(202);
    expect((await invoke(trigger, { x: 1 }, { Authorization: 'Bearer sbt_wrong' })).status).toBe(401);
    expect((await invoke(trigger, { x: 1 })).status).toBe(401);
  });

  it('maps payload fields into the run input with JSON Pointers, and names a missing one with 422', async () => {
    const trigger = await newTrigger({ authentication: 'token', inputMapping: { question: '/message/text', first: '/items/0', odd: '/a~1b' } });
    const auth = { Authorization: `Bearer ${trigger.secret}` };
    const ok = await invoke(trigger, { message: { text: 'hello' }, items: ['x', 'y'], 'a/b': true, ignored: 1 }, auth);
    expect(ok.status).toBe(202);
    expect((await call<Run>(app, 'GET', `/api/v1/runs/${ok.body.runId}`)).body.input).toEqual({ question: 'hello', first: 'x', odd: true });
    const missing = await invoke(trigger, { message: {} }, auth);
    expect(missing.status).toBe(422);
    expect(missing.body.errors!.map((e) => e.pointer)).toEqual(['/message/text', '/items/0', '/a~1b']);
  });

  it('answers a repeated webhook-id with the first run and starts nothing', async () => {
    const trigger = await newTrigger({});
    const body = JSON.stringify({ n: 1 });
    const headers = signed(trigger.secret, body, 'msg_repeat');
    const first = await invoke(trigger, body, headers);
    const again = await invoke(trigger, body, headers);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ runId: first.body.runId, duplicate: true });
    expect(await runsOf(trigger.agentId)).toHaveLength(1);
  });

  it('starts exactly one run for 50 concurrent calls with one webhook-id', async () => {
    const trigger = await newTrigger({});
    const body = JSON.stringify({ burst: true });
    const headers = signed(trigger.secret, body, 'msg_burst');
    const results = await Promise.all(Array.from({ length: 50 }, () => invoke(trigger, body, headers)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(new Set(results.map((r) => r.body.runId)).size).toBe(1);
    expect(results.filter((r) => !r.body.duplicate)).toHaveLength(1);
    const runs = await runsOf(trigger.agentId);
    expect(runs.map((r) => r.id)).toEqual([results[0]!.body.runId]);
    expect((await runEvents(app, runs[0]!.id)).filter((e) => e.type === 'status')).toHaveLength(1);
  });

  it('answers 409 while paused and works again once resumed; a paused agent refuses the run', async () => {
    const agent = await newAgent(app);
    const trigger = await newTrigger({ agentId: agent.id, authentication: 'token' });
    const auth = { Authorization: `Bearer ${trigger.secret}` };
    expect((await call(app, 'POST', `/api/v1/triggers/${trigger.id}/pause`)).body).toMatchObject({ status: 'paused' });
    expectInvalidTransition(await call(app, 'POST', `/api/v1/triggers/${trigger.id}/pause`), 'paused');
    const paused = await invoke(trigger, {}, auth);
    expect([paused.status, paused.body.code]).toEqual([409, 'invalid-transition']);
    await call(app, 'POST', `/api/v1/triggers/${trigger.id}/resume`);
    expect((await invoke(trigger, {}, auth)).status).toBe(202);
    await call(app, 'POST', `/api/v1/agents/${agent.id}/pause`);
    expect((await invoke(trigger, {}, auth)).status).toBe(409);
  });

  it('rotates the secret: the old one stops working at once', async () => {
    const trigger = await newTrigger({});
    const rotated = await call<TriggerWithSecret>(app, 'POST', `/api/v1/triggers/${trigger.id}/rotate-secret`);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(trigger.secret);
    const body = '{}';
    expect((await invoke(trigger, body, signed(trigger.secret, body))).status).toBe(401);
    expect((await invoke(trigger, body, signed(rotated.body.secret, body))).status).toBe(202);
  });

  it('keeps triggers to their application, answers unknown ones with 404, and updates and deletes', async () => {
    const trigger = await newTrigger({ authentication: 'token' });
    expectProblem(await call(other, 'GET', `/api/v1/triggers/${trigger.id}`), 404, 'not-found');
    expectProblem(await call(other, 'DELETE', `/api/v1/triggers/${trigger.id}`), 404, 'not-found');
    expect((await invoke({ url: '/api/v1/hooks/trg_01jd4x7p2kf8q6v3b9m5t0s1ab' }, {})).status).toBe(404);
    const patched = await call(app, 'PATCH', `/api/v1/triggers/${trigger.id}`, { name: 'renamed', inputMapping: { q: '/q' } });
    expect(patched.body).toMatchObject({ name: 'renamed', inputMapping: { q: '/q' } });
    const cleared = await call(app, 'PATCH', `/api/v1/triggers/${trigger.id}`, { inputMapping: null });
    expect(cleared.body).toMatchObject({ name: 'renamed', inputMapping: null });
    const listed = await call<{ data: { id: string }[] }>(app, 'GET', `/api/v1/triggers?agentId=${trigger.agentId}`);
    expect(listed.body.data.map((t) => t.id)).toEqual([trigger.id]);
    expect((await call(app, 'DELETE', `/api/v1/triggers/${trigger.id}`)).status).toBe(204);
    expect((await invoke(trigger, {}, { Authorization: `Bearer ${trigger.secret}` })).status).toBe(404);
  });
});
