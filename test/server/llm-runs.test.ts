import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, type Run } from '@switchboard/sdk';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';

/** An http tool on loopback: answers each call with what `answer` makes of its arguments, and keeps them. */
async function toolServer(answer: (args: Record<string, unknown>) => unknown) {
  const calls: { path: string; args: Record<string, unknown>; runId: string | undefined }[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const args = JSON.parse(raw) as Record<string, unknown>;
      calls.push({ path: req.url ?? '', args, runId: req.headers['switchboard-run-id'] as string | undefined });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(answer(args)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

async function finished(sb: Switchboard, runId: string): Promise<Run> {
  for await (const event of sb.runs.stream(runId)) {
    if (event.type === 'status' && TERMINAL.includes(event.data.status)) break;
  }
  return sb.runs.get(runId);
}

// Prices of the alias: $2 and $8 per million input and output tokens.
const PRICING = { inputMicrosPerMillionTokens: 2_000_000, outputMicrosPerMillionTokens: 8_000_000 };

describe('an agent on the llm runtime, run by the built-in runner through the gateway', () => {
  let server: ServerProcess;
  let provider: TestProvider;
  let tools: Awaited<ReturnType<typeof toolServer>>;
  let sb: Switchboard;

  beforeAll(async () => {
    provider = await startTestProvider({ apiKey: 'sk-provider-secret-1234' });
    tools = await toolServer((args) => (args.city === 'Lyon' ? { temperatureC: 14 } : { orders: 3 }));
    // Short leases: the runner learns of a cancellation at its next heartbeat (a third of the lease).
    server = await startServerProcess(
      { MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true', RUNNER_ALLOW_PRIVATE_ADDRESSES: 'true', LEASE_SECONDS: '6' },
      undefined,
      ['--with-runner'],
    );
    sb = new Switchboard({ baseUrl: server.url, apiKey: server.adminKey });
    const created = await sb.modelProviders.create({
      name: 'Test provider',
      kind: 'openai-compatible',
      baseUrl: provider.openaiBaseUrl,
      credential: 'sk-provider-secret-1234',
    });
    await sb.models.create({ alias: 'assistant', providerId: created.id, upstreamModel: 'test-large', pricing: PRICING });
  });
  afterAll(async () => {
    await server?.stop();
    await provider?.close();
    await tools?.close();
  });

  it('calls two tools, then answers; events in order, usage and cost exact in micro-USD', async () => {
    const agent = await sb.agents.create({
      name: 'weather-and-orders',
      model: 'assistant',
      instructions: 'You help with weather and orders.',
      tools: [
        {
          name: 'weather',
          description: 'Weather in a city',
          inputSchema: { type: 'object', properties: { city: { type: 'string' } } },
          kind: 'http',
          url: `${tools.url}/weather`,
        },
        { name: 'orders', description: 'Open orders of a customer', inputSchema: { type: 'object' }, kind: 'http', url: `${tools.url}/orders` },
      ],
    });
    provider.reply(
      { toolCalls: [{ id: 'call_1', name: 'weather', arguments: { city: 'Lyon' } }], usage: { input: 120, output: 15 } },
      { toolCalls: [{ id: 'call_2', name: 'orders', arguments: { customer: 'c-42' } }], usage: { input: 160, output: 12 } },
      { text: 'It is 14 degrees in Lyon and you have 3 open orders.', usage: { input: 210, output: 14 } },
    );
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Weather in Lyon, and my orders?' } });
    const done = await finished(sb, run.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.output).toMatchObject({ text: 'It is 14 degrees in Lyon and you have 3 open orders.' });

    // Three model calls, each with the run's conversation so far; the tools got the model's arguments.
    const calls = provider.requests.filter((r) => r.path === '/v1/chat/completions').slice(-3);
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.headers.authorization)).toEqual(Array(3).fill('Bearer sk-provider-secret-1234'));
    expect(calls[0]!.body).toMatchObject({ model: 'test-large', stream: true });
    const lastMessages = (calls[2]!.body as { messages: { role: string; content?: unknown; tool_call_id?: string }[] }).messages;
    expect(lastMessages[0]).toMatchObject({ role: 'system', content: 'You help with weather and orders.' });
    expect(lastMessages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id)).toEqual(['call_1', 'call_2']);
    expect(tools.calls.map((c) => [c.path, c.args])).toEqual([
      ['/weather', { city: 'Lyon' }],
      ['/orders', { customer: 'c-42' }],
    ]);

    const events = (await sb.runs.events(run.id, { limit: 100 })).data;
    const steps = events
      .filter((e) => e.type.startsWith('tool.') || e.type === 'status')
      .map((e) => (e.type === 'status' ? `status:${(e.data as { status: string }).status}` : e.type));
    expect(steps).toEqual(['status:queued', 'status:running', 'tool.call', 'tool.result', 'tool.call', 'tool.result', 'status:succeeded']);
    const deltas = events.filter((e) => e.type === 'output.delta').map((e) => (e.data as { text: string }).text);
    expect(deltas.join('')).toBe('It is 14 degrees in Lyon and you have 3 open orders.');
    expect(events.findIndex((e) => e.type === 'output.delta')).toBeGreaterThan(events.map((e): string => e.type).lastIndexOf('tool.result'));

    // 490 input and 41 output tokens: 490 x 2 + 41 x 8 = 1,308 micro-USD.
    expect(done.usage).toEqual({ inputTokens: 490, outputTokens: 41 });
    expect(done.costMicros).toBe(1308);
  });

  it('fails the run with model_not_found when the agent names no alias', async () => {
    const agent = await sb.agents.create({ name: 'unknown-model', model: 'no-such-alias' });
    const done = await finished(sb, (await sb.runs.create({ agentId: agent.id })).id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('model_not_found');
  });

  it('cancelling the run aborts the model call at the provider', async () => {
    const agent = await sb.agents.create({ name: 'slow-thinker', model: 'assistant' });
    provider.reply({ hang: true });
    const before = provider.requests.length;
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Think forever.' } });
    for (let i = 0; i < 200 && provider.requests.length === before; i++) await new Promise((r) => setTimeout(r, 25));
    const call = provider.requests[before]!;
    await sb.runs.cancel(run.id);
    expect(await call.settled).toBe('aborted');
    expect((await finished(sb, run.id)).status).toBe('cancelled');
  });

  it('holds a conversation on a thread: each run sends the history and adds its turns, runs queued in order', async () => {
    const agent = await sb.agents.create({
      name: 'thread-talker',
      model: 'assistant',
      instructions: 'You are brief.',
      tools: [{ name: 'weather', description: 'Weather in a city', inputSchema: { type: 'object' }, kind: 'http', url: `${tools.url}/weather` }],
    });
    const thread = await sb.threads.create({ agentId: agent.id, messages: [{ role: 'system', content: [{ type: 'text', text: 'The user is in France.' }] }] });
    provider.reply(
      { toolCalls: [{ id: 'call_w', name: 'weather', arguments: { city: 'Lyon' } }] },
      { text: 'It is 14 degrees in Lyon.' },
      { text: 'You asked about Lyon.' },
    );
    // A client follows the thread with the SDK: the messages as they are added, until the second run ends.
    const followed: string[] = [];
    const controller = new AbortController();
    let ended = 0;
    const following = (async () => {
      for await (const event of sb.threads.stream(thread.id, { signal: controller.signal })) {
        if (event.type === 'thread.message') followed.push(`${event.data.seq}:${event.data.role}`);
        if (event.type === 'status' && event.data.status === 'succeeded' && ++ended === 2) break;
      }
    })();
    const ask = (text: string) => sb.threads.runs.create(thread.id, { messages: [{ role: 'user', content: [{ type: 'text', text }] }] });
    // Both asked at once: the second waits for the first, and sees its answer.
    const first = await ask('Weather in Lyon?');
    const second = await ask('Which city did I ask about?');
    expect((await finished(sb, first.id)).status).toBe('succeeded');
    expect((await finished(sb, second.id)).status).toBe('succeeded');

    const calls = provider.requests.filter((r) => r.path === '/v1/chat/completions').slice(-3);
    const sent = (calls[2]!.body as { messages: { role: string; content?: unknown; tool_call_id?: string }[] }).messages;
    expect(sent.map((m) => [m.role, m.tool_call_id ?? m.content])).toEqual([
      ['system', 'You are brief.\n\nThe user is in France.'],
      ['user', 'Weather in Lyon?'],
      ['assistant', null],
      ['tool', 'call_w'],
      ['assistant', 'It is 14 degrees in Lyon.'],
      ['user', 'Which city did I ask about?'],
    ]);
    const messages = (await sb.threads.messages.list(thread.id)).data;
    expect(messages.map((m) => [m.seq, m.role, m.runId])).toEqual([
      [1, 'system', null],
      [2, 'user', first.id],
      [3, 'assistant', first.id],
      [4, 'tool', first.id],
      [5, 'assistant', first.id],
      [6, 'user', second.id],
      [7, 'assistant', second.id],
    ]);
    expect(messages[2]!.content).toEqual([{ type: 'tool_call', id: 'call_w', name: 'weather', arguments: { city: 'Lyon' } }]);
    expect(messages[3]!.content).toEqual([{ type: 'tool_result', toolCallId: 'call_w', content: '{"temperatureC":14}', isError: false }]);
    expect(messages[6]!.content).toEqual([{ type: 'text', text: 'You asked about Lyon.' }]);
    expect(await sb.threads.get(thread.id)).toMatchObject({ status: 'idle', lastRunId: second.id, messageCount: 7 });
    await following;
    controller.abort();
    expect(followed).toEqual(['2:user', '3:assistant', '4:tool', '5:assistant', '6:user', '7:assistant']);
  });
});
