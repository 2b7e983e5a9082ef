import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, type Run } from '@switchboard/sdk';
import { startBuiltinRunner, type Worker } from '@switchboard/sdk/runner';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { until } from '../sdk/helpers.js';
import { startTestProvider, type RecordedRequest, type Reply, type TestProvider } from '../support/test-provider.js';

/**
 * The `llm` runtime's built-in `request_approval`, end to end: an agent against the test provider
 * (behind the gateway), run by the built-in runner with one slot, asks a person; the run waits
 * holding no lease while the runner does other work; a decision (or an expiry, under each policy)
 * resumes it on a new lease, and the model goes on from the decision.
 */
let now = Date.now();
let running: InProcessServer;
let provider: TestProvider;
let sb: Switchboard;
let runner: Worker;
let tag: string;
const refunds: Record<string, unknown>[] = [];
let toolServer: ReturnType<typeof createServer>;
let toolUrl: string;

const REFUND_SCHEMA = {
  type: 'object',
  required: ['orderId', 'amountMinor'],
  properties: { orderId: { type: 'string' }, amountMinor: { type: 'integer', minimum: 1, maximum: 4900 } },
  additionalProperties: false,
};

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now }, { MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true', RUNNER_ALLOW_PRIVATE_ADDRESSES: 'true' });
  provider = await startTestProvider();
  toolServer = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      refunds.push(JSON.parse(raw) as Record<string, unknown>);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ refunded: true }));
    });
  });
  await new Promise<void>((r) => toolServer.listen(0, '127.0.0.1', r));
  toolUrl = `http://127.0.0.1:${String((toolServer.address() as { port: number }).port)}/refund`;
  sb = new Switchboard({ baseUrl: running.baseUrl, apiKey: running.adminKey });
  const created = await sb.modelProviders.create({ name: 'Test provider', kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
  await sb.models.create({ alias: 'assistant', providerId: created.id, upstreamModel: 'test-large' });
  const anthropic = await sb.modelProviders.create({
    name: 'Test provider, Anthropic',
    kind: 'anthropic',
    baseUrl: `${provider.url}/v1`,
    credential: 'sk-ant-test',
  });
  await sb.models.create({ alias: 'claude', providerId: anthropic.id, upstreamModel: 'claude-test', api: 'messages' });
  tag = `llm-approvals-${String(process.pid)}`;
  const registered = await sb.runners.register({ name: 'one-slot', labels: [tag] });
  // One slot: a run that waits must give it up for the runner to do anything else.
  runner = startBuiltinRunner({
    baseUrl: running.baseUrl,
    runnerId: registered.id,
    token: registered.token,
    concurrency: 1,
    allowPrivateAddresses: true,
    onError: () => undefined,
  });
});
afterAll(async () => {
  await runner?.stop(2000);
  await running?.stop();
  await provider?.close();
  toolServer?.closeAllConnections();
  await new Promise((r) => toolServer?.close(r));
});

type Message = { role: string; content?: unknown; tool_call_id?: string; tool_calls?: { id: string; function: { name: string } }[] };
const messagesOf = (request: RecordedRequest) => (request.body as { messages: Message[] }).messages;
/** The result the model was given for a tool call, parsed. */
const resultOf = (request: RecordedRequest, callId: string) => {
  const message = messagesOf(request).find((m) => m.role === 'tool' && m.tool_call_id === callId);
  return message ? (JSON.parse(message.content as string) as Record<string, unknown>) : undefined;
};

async function refundAgent(name: string, approval: Record<string, unknown> = {}, model = 'assistant') {
  return sb.agents.create({
    name,
    model,
    instructions: 'You refund orders, with approval.',
    labels: [tag],
    tools: [
      { kind: 'builtin', name: 'request_approval', approval: { payloadSchema: REFUND_SCHEMA, expiresInSeconds: 3600, ...approval } },
      { name: 'refund', description: 'Refunds an order', inputSchema: REFUND_SCHEMA, url: toolUrl },
    ],
  });
}

const ask = (id: string, payload: Record<string, unknown>): Reply => ({
  toolCalls: [{ id, name: 'request_approval', arguments: { title: `Refund order ${String(payload.orderId)}?`, summary: 'The parcel never came.', payload } }],
});

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];
/** The run once its status is one of `statuses` (polled for up to 15 s). */
async function reaches(runId: string, statuses: string[]): Promise<Run> {
  await until(async () => statuses.includes((await sb.runs.get(runId)).status), `run ${runId} to be ${statuses.join(' or ')}`, 300, 50);
  return sb.runs.get(runId);
}
const settled = async (runId: string) => (await reaches(runId, TERMINAL)).status;
const waiting = (runId: string) => reaches(runId, ['waiting']);
const leasesOf = async (runId: string) =>
  Number(((await running.server.db('runs').where({ id: runId }).whereNotNull('lease_expires_at').count({ n: '*' })) as [{ n: number | string }])[0].n);
const fencingOf = async (runId: string) =>
  Number((await running.server.db('runs').where({ id: runId }).first<{ fencing_token: number | string }>('fencing_token')).fencing_token);
const eventTypes = async (runId: string) =>
  (await sb.runs.events(runId, { limit: 100 })).data
    .filter((e) => e.type !== 'output.delta')
    .map((e) => (e.type === 'status' ? `status:${(e.data as { status: string }).status}` : e.type));

describe('request_approval in the llm runtime', () => {
  it('waits holding no lease while the runner runs another; approved with an edit, it resumes on a new lease and refunds the edited amount', async () => {
    const agent = await refundAgent('refunder');
    provider.reply(
      // First too much for the agent's payload schema: the model is told why, and asks again.
      ask('call_too_much', { orderId: '10-2291', amountMinor: 990_000 }),
      ask('call_ask', { orderId: '10-2291', amountMinor: 4900 }),
    );
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Refund order 10-2291, 49.00 EUR.' } });
    const asked = await waiting(run.id);
    expect(asked.waitingFor).toMatchObject({ kind: 'approval', onExpire: 'reject' });
    expect(await leasesOf(run.id)).toBe(0);
    const fencingBefore = await fencingOf(run.id);
    const approval = await sb.approvals.get(asked.waitingFor!.approvalId);
    expect(approval).toMatchObject({
      status: 'pending',
      title: 'Refund order 10-2291?',
      summary: 'The parcel never came.',
      payload: { orderId: '10-2291', amountMinor: 4900 },
      payloadSchema: REFUND_SCHEMA,
    });
    expect(approval).not.toHaveProperty('checkpoint');
    const refused = resultOf(provider.requests.at(-1)!, 'call_too_much');
    expect(refused?.error).toMatch(/amountMinor/);

    // The one slot is free: another run of the agent is claimed and finished meanwhile.
    provider.reply({ text: 'Nothing to refund.' });
    const other = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Anything to refund?' } });
    expect(await settled(other.id)).toBe('succeeded');
    expect((await sb.runs.get(run.id)).status).toBe('waiting');

    // The model reads the decision and refunds what it was told to.
    provider.reply(
      (request) => {
        const decision = resultOf(request, 'call_ask') as { payload: Record<string, unknown> };
        return { toolCalls: [{ id: 'call_refund', name: 'refund', arguments: decision.payload }] };
      },
      { text: 'Refunded 30.00 EUR.' },
    );
    await sb.approvals.decide(approval.id, { outcome: 'approve', editedPayload: { orderId: '10-2291', amountMinor: 3000 } });
    expect(await settled(run.id)).toBe('succeeded');
    const done = await sb.runs.get(run.id);
    expect(done.output).toMatchObject({ text: 'Refunded 30.00 EUR.', steps: 4 });
    expect(refunds.at(-1)).toEqual({ orderId: '10-2291', amountMinor: 3000 });
    expect(await fencingOf(run.id)).toBeGreaterThan(fencingBefore);

    // After the wait the model had the whole conversation, and the decision as the asking call's result.
    const resumed = provider.requests.filter((r) => r.path === '/v1/chat/completions').at(-2)!;
    expect(messagesOf(resumed).map((m) => m.tool_call_id ?? m.role)).toEqual(['system', 'user', 'assistant', 'call_too_much', 'assistant', 'call_ask']);
    expect(resultOf(resumed, 'call_ask')).toEqual({ status: 'approved', payload: { orderId: '10-2291', amountMinor: 3000 }, edited: true });
    expect(await eventTypes(run.id)).toEqual([
      'status:queued',
      'status:running',
      'tool.call',
      'tool.result',
      'tool.call',
      'approval.requested',
      'status:waiting',
      'approval.decided',
      'status:queued',
      'status:running',
      'tool.result',
      'tool.call',
      'tool.result',
      'status:succeeded',
    ]);
  });

  it('rejected on a thread: the model reads the note, nothing is refunded, and the thread keeps the whole exchange', async () => {
    const agent = await refundAgent('thread-refunder');
    const thread = await sb.threads.create({ agentId: agent.id });
    provider.reply(ask('call_t', { orderId: '7-1', amountMinor: 4000 }));
    const before = refunds.length;
    const run = await sb.threads.runs.create(thread.id, { messages: [{ role: 'user', content: [{ type: 'text', text: 'Refund order 7-1.' }] }] });
    const asked = await waiting(run.id);
    expect((await sb.threads.get(thread.id)).status).toBe('waiting');
    provider.reply((request) => ({ text: `I cannot: ${String(resultOf(request, 'call_t')?.note)}` }));
    await sb.approvals.decide(asked.waitingFor!.approvalId, { outcome: 'reject', note: 'Refunds over 30 EUR need a manager.' });
    expect(await settled(run.id)).toBe('succeeded');
    expect((await sb.runs.get(run.id)).output).toMatchObject({ text: 'I cannot: Refunds over 30 EUR need a manager.' });
    expect(refunds.length).toBe(before);
    const messages = (await sb.threads.messages.list(thread.id)).data;
    expect(messages.map((m) => [m.role, m.content[0]!.type])).toEqual([
      ['user', 'text'],
      ['assistant', 'tool_call'],
      ['tool', 'tool_result'],
      ['assistant', 'text'],
    ]);
    expect(JSON.parse((messages[2]!.content[0] as { content: string }).content)).toEqual({ status: 'rejected', note: 'Refunds over 30 EUR need a manager.' });
  });

  it('over the Anthropic messages protocol: the tool_use asked, the decision comes back as its tool_result after the wait', async () => {
    const agent = await refundAgent('claude-refunder', {}, 'claude');
    provider.reply(ask('toolu_ask', { orderId: '3-3', amountMinor: 1200 }));
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Refund order 3-3.' } });
    const asked = await waiting(run.id);
    provider.reply({ text: 'Approved, refunding 12.00 EUR.' });
    await sb.approvals.decide(asked.waitingFor!.approvalId, { outcome: 'approve' });
    expect(await settled(run.id)).toBe('succeeded');
    const resumed = provider.requests.filter((r) => r.path === '/v1/messages').at(-1)!;
    const messages = (resumed.body as { messages: { role: string; content: { type: string; id?: string; tool_use_id?: string; content?: unknown }[] }[] })
      .messages;
    expect(messages.map((m) => [m.role, m.content.map((c) => c.type).join(',')])).toEqual([
      ['user', 'text'],
      ['assistant', 'tool_use'],
      ['user', 'tool_result'],
    ]);
    expect(messages[2]!.content[0]).toMatchObject({ tool_use_id: 'toolu_ask' });
    expect((await sb.runs.get(run.id)).output).toMatchObject({ text: 'Approved, refunding 12.00 EUR.' });
  });

  it('expiry under each policy: reject tells the model it expired, cancel_run cancels, fail_run fails; never a decision', async () => {
    const runs: Record<string, string> = {};
    for (const onExpire of ['reject', 'cancel_run', 'fail_run'] as const) {
      const agent = await refundAgent(`expiring-${onExpire}`, { expiresInSeconds: 60, onExpire });
      provider.reply(ask(`call_${onExpire}`, { orderId: `x-${onExpire}`, amountMinor: 100 }));
      runs[onExpire] = (await sb.runs.create({ agentId: agent.id, input: { prompt: 'Refund.' } })).id;
      await waiting(runs[onExpire]);
    }
    provider.reply((request) => ({ text: `Not refunded: ${String(resultOf(request, 'call_reject')?.status)}.` }));
    now += 61_000;
    await running.server.expireApprovalsNow();
    expect(await settled(runs.reject!)).toBe('succeeded');
    expect((await sb.runs.get(runs.reject!)).output).toMatchObject({ text: 'Not refunded: expired.' });
    expect((await sb.runs.get(runs.cancel_run!)).status).toBe('cancelled');
    expect(await sb.runs.get(runs.fail_run!)).toMatchObject({ status: 'failed', error: { code: 'approval_expired' } });
    for (const runId of Object.values(runs)) {
      const [approval] = (await sb.approvals.list({ runId })).data;
      expect(approval).toMatchObject({ status: 'expired', decision: null });
    }
  });
});
