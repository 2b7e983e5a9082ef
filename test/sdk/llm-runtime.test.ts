import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { llmRuntime, RunFailure, type LlmOptions, type RunContext } from '@switchboard/sdk/runner';
import { startTestProvider, type Reply, type TestProvider } from '../support/test-provider.js';
import { until } from './helpers.js';

/**
 * The built-in runner's `llm` runtime, run directly against the test provider (standing in for
 * the gateway, whose base URLs the runtime takes as options) and a tool server on loopback: the
 * conversation it sends, the tool loop, the events it records, failures and cancellation.
 */
type Recorded = { type: string; data: Record<string, unknown> };
type ToolRequest = { path: string; headers: IncomingHttpHeaders; body: unknown };

const RUN_TOKEN = 'sbrt_test-run-token';
let provider: TestProvider;
let tools: { url: string; requests: ToolRequest[]; connections: () => number; closed: () => number; server: Server };

/** Tools on loopback: /weather answers with a forecast for the city, /broken with 503, /deep with a deeply nested object, /slow never. */
async function startTools() {
  const requests: ToolRequest[] = [];
  let connections = 0;
  let closed = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body: unknown = JSON.parse(raw);
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.url === '/slow') return;
      if (req.url === '/deep') {
        // Nested deeper than a run event may hold.
        const deep = Array.from({ length: 12 }).reduce<unknown>((inner) => ({ inner }), 'bottom');
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(deep));
        return;
      }
      if (req.url === '/broken') {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('down for maintenance');
        return;
      }
      const city = (body as { city: string }).city;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ city, forecast: city === 'Paris' ? 'sunny' : 'rain' }));
    });
  });
  server.on('connection', (socket) => {
    connections++;
    socket.on('close', () => closed++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${String(port)}`, requests, connections: () => connections, closed: () => closed, server };
}

beforeAll(async () => {
  provider = await startTestProvider();
  tools = await startTools();
});
afterAll(async () => {
  await provider.close();
  tools.server.closeAllConnections();
  await new Promise((r) => tools.server.close(r));
});
afterEach(() => {
  expect(provider.pending()).toBe(0);
  provider.requests.length = 0;
  tools.requests.length = 0;
});

const weather = () => ({
  name: 'get_weather',
  description: 'The forecast of a city',
  inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  url: `${tools.url}/weather`,
});

type AgentOverrides = Partial<RunContext['agent']>;

/** A run context as the worker makes it, recording what the runtime emits. */
function context(agent: AgentOverrides = {}, input: Record<string, unknown> = { prompt: 'Weather in Paris and Lyon?' }, signal = new AbortController().signal) {
  const events: Recorded[] = [];
  const ctx: RunContext = {
    run: { id: 'run_01jd5a2b3c4d5e6f7g8h9j0k1m', attempt: 1, input } as unknown as RunContext['run'],
    agent: {
      id: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
      name: 'Weather',
      version: 3,
      instructions: 'Answer with the forecast.',
      model: 'support-default',
      modelApi: 'chat',
      tools: [weather()],
      secrets: [],
      config: {},
      runtime: 'runner',
      url: null,
      limits: { timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: null },
      ...agent,
    },
    lease: {} as RunContext['lease'],
    signal,
    runToken: RUN_TOKEN,
    secrets: {},
    log: (message, level = 'info', data = {}) => {
      events.push({ type: 'log', data: { level, message, ...data } });
      return Promise.resolve();
    },
    emit: (type, data = {}) => {
      events.push({ type, data });
      return Promise.resolve();
    },
    resume: null,
    requestApproval: () => Promise.reject(new Error('this runtime asks nobody')),
  };
  return { ctx, events };
}

const runtime = (options: Partial<LlmOptions> = {}) =>
  llmRuntime({ baseUrl: 'http://127.0.0.1:9', openaiBaseUrl: provider.openaiBaseUrl, anthropicBaseUrl: provider.url, allowPrivateAddresses: true, ...options });

const failureOf = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunFailure);
  return err as RunFailure;
};

const twoToolCallsThenAnswer = (ids: [string, string]): Reply[] => [
  { toolCalls: [{ id: ids[0], name: 'get_weather', arguments: { city: 'Paris' } }], usage: { input: 40, output: 12 } },
  { text: 'Checking Lyon too.', toolCalls: [{ id: ids[1], name: 'get_weather', arguments: { city: 'Lyon' } }] },
  { text: 'Paris is sunny and Lyon has rain.' },
];

const types = (events: Recorded[]) => events.map((e) => e.type).filter((t, i, all) => t !== 'output.delta' || all[i - 1] !== 'output.delta');
const textOf = (events: Recorded[]) => events.flatMap((e) => (e.type === 'output.delta' ? [e.data.text as string] : [])).join('');

describe('OpenAI chat completions (the default)', () => {
  it('calls two tools, one per step, feeds their results back, then answers; events in order', async () => {
    provider.reply(...twoToolCallsThenAnswer(['call_paris', 'call_lyon']));
    const { ctx, events } = context({ config: { temperature: 0.3 } });
    const outcome = await runtime()(ctx);

    expect(outcome).toEqual({ output: { text: 'Paris is sunny and Lyon has rain.', finishReason: 'stop', steps: 3 } });
    expect(outcome.usage).toBeUndefined();
    expect(types(events)).toEqual(['tool.call', 'tool.result', 'output.delta', 'tool.call', 'tool.result', 'output.delta']);
    expect(events.filter((e) => e.type.startsWith('tool.')).map((e) => e.data)).toEqual([
      { id: 'call_paris', name: 'get_weather', arguments: { city: 'Paris' } },
      { id: 'call_paris', name: 'get_weather', ok: true, result: { city: 'Paris', forecast: 'sunny' } },
      { id: 'call_lyon', name: 'get_weather', arguments: { city: 'Lyon' } },
      { id: 'call_lyon', name: 'get_weather', ok: true, result: { city: 'Lyon', forecast: 'rain' } },
    ]);
    expect(textOf(events)).toBe('Checking Lyon too.Paris is sunny and Lyon has rain.');

    // The tool got the arguments as JSON, with the run and the call named.
    expect(tools.requests.map((r) => r.body)).toEqual([{ city: 'Paris' }, { city: 'Lyon' }]);
    expect(tools.requests[0]!.headers).toMatchObject({
      'switchboard-run-id': ctx.run.id,
      'switchboard-attempt': '1',
      'switchboard-tool-call-id': 'call_paris',
    });

    // Three streamed calls with the run token, the agent's model and its tools as functions.
    expect(provider.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual(
      Array(3).fill(['POST', '/v1/chat/completions', `Bearer ${RUN_TOKEN}`]),
    );
    const [first, , last] = provider.requests.map((r) => r.body!);
    expect(first).toEqual({
      model: 'support-default',
      stream: true,
      temperature: 0.3,
      messages: [
        { role: 'system', content: 'Answer with the forecast.' },
        { role: 'user', content: 'Weather in Paris and Lyon?' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'The forecast of a city', parameters: weather().inputSchema } }],
    });
    expect(last!.messages).toEqual([
      { role: 'system', content: 'Answer with the forecast.' },
      { role: 'user', content: 'Weather in Paris and Lyon?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_paris', content: '{"city":"Paris","forecast":"sunny"}' },
      {
        role: 'assistant',
        content: 'Checking Lyon too.',
        tool_calls: [{ id: 'call_lyon', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_lyon', content: '{"city":"Lyon","forecast":"rain"}' },
    ]);
  });

  it('runs the tool calls of one step in order and answers them all in the next request', async () => {
    provider.reply(
      {
        toolCalls: [
          { id: 'a', name: 'get_weather', arguments: { city: 'Paris' } },
          { id: 'b', name: 'get_weather', arguments: { city: 'Oslo' } },
        ],
      },
      { text: 'Done.' },
    );
    const { ctx, events } = context();
    expect((await runtime()(ctx)).output).toEqual({ text: 'Done.', finishReason: 'stop', steps: 2 });
    expect(types(events)).toEqual(['tool.call', 'tool.result', 'tool.call', 'tool.result', 'output.delta']);
    const messages = provider.requests[1]!.body!.messages as { role: string; tool_call_id?: string }[];
    expect(messages.slice(2).map((m) => m.tool_call_id ?? m.role)).toEqual(['assistant', 'a', 'b']);
  });

  it('takes input.messages as the chat (system ones join the instructions), else input.text, else the input as JSON', async () => {
    provider.reply({ text: 'one' }, { text: 'two' }, { text: 'three' });
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: [{ type: 'text', text: 'Forecast?' }] },
    ];
    await runtime()(context({}, { messages }).ctx);
    await runtime()(context({ instructions: '' }, { text: 'plain text' }).ctx);
    await runtime()(context({}, { ticket: 42, tags: ['a'] }).ctx);
    expect(provider.requests.map((r) => r.body!.messages)).toEqual([
      [
        { role: 'system', content: 'Answer with the forecast.\n\nBe brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Forecast?' },
      ],
      [{ role: 'user', content: 'plain text' }],
      [
        { role: 'system', content: 'Answer with the forecast.' },
        { role: 'user', content: '{"ticket":42,"tags":["a"]}' },
      ],
    ]);
  });

  it('refuses input.messages that are not chat messages with invalid_input, without calling the model', async () => {
    const failure = await failureOf(runtime()(context({}, { messages: [{ role: 'robot', content: 'x' }] }).ctx));
    expect(failure.code).toBe('invalid_input');
    expect(failure.message).toContain('robot');
    expect(provider.requests).toHaveLength(0);
  });

  it('batches streamed text into output.delta events ({ text }) of about maxChars, not one per token', async () => {
    const words = Array.from({ length: 120 }, (_, i) => `word${String(i)}`);
    provider.reply({ text: words.join(' ') });
    const { ctx, events } = context({ tools: [] });
    await runtime({ deltaMaxChars: 100, deltaIntervalMs: 60_000 })(ctx);
    const deltas = events.filter((e) => e.type === 'output.delta').map((e) => e.data.text as string);
    expect(deltas.join('')).toBe(words.join(' '));
    expect(deltas.length).toBeLessThan(words.length / 5);
    for (const delta of deltas.slice(0, -1)) expect(delta.length).toBeGreaterThanOrEqual(100);
    expect(provider.requests[0]!.body!.tools).toBeUndefined();
  });

  it("sends an http tool's headers with the claim's secrets filled in, and fails on one the claim did not deliver", async () => {
    provider.reply({ toolCalls: [{ id: 's1', name: 'get_weather', arguments: { city: 'Oslo' } }] }, { text: 'Cold.' });
    const tool = { ...weather(), headers: { Authorization: 'Bearer {{secrets.WEATHER_KEY}}', 'X-Plain': 'as is' } };
    const { ctx } = context({ tools: [tool], secrets: ['WEATHER_KEY'] });
    await runtime()({ ...ctx, secrets: { WEATHER_KEY: 'wk-0123456789' } });
    expect(tools.requests[0]!.headers).toMatchObject({ authorization: 'Bearer wk-0123456789', 'x-plain': 'as is', 'switchboard-tool-call-id': 's1' });

    provider.reply({ toolCalls: [{ id: 's2', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const failure = await failureOf(runtime()(context({ tools: [tool] }).ctx));
    expect(failure.code).toBe('secret_missing');
    expect(failure.message).toContain('WEATHER_KEY');
  });

  it('replaces control characters an output delta may not carry', async () => {
    provider.reply({ text: 'bell\u0007 tab\t line\n' });
    const { ctx, events } = context({ tools: [] });
    expect((await runtime()(ctx)).output).toMatchObject({ text: 'bell\u0007 tab\t line\n' });
    expect(textOf(events)).toBe('bell\uFFFD tab\t line\n');
  });

  it('a tool result deeper than a run event may hold is recorded as truncated JSON; the model gets all of it', async () => {
    provider.reply({ toolCalls: [{ id: 'd1', name: 'deep', arguments: {} }] }, { text: 'ok' });
    const { ctx, events } = context({ tools: [{ name: 'deep', url: `${tools.url}/deep` }] });
    await runtime()(ctx);
    const result = events.find((e) => e.type === 'tool.result')!.data;
    expect(result).toMatchObject({ ok: true, truncated: true });
    expect(result.result).toMatch(/^\{"inner":\{"inner":/);
    const fedBack = (provider.requests[1]!.body!.messages as { role: string; content: string }[]).find((m) => m.role === 'tool')!;
    expect(JSON.stringify(JSON.parse(fedBack.content))).toBe(result.result);
  });

  it('fails with max_steps when the model still calls tools after config.maxSteps calls, without running the last step’s tools', async () => {
    provider.reply(
      { toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Paris' } }] },
      { toolCalls: [{ id: 'c2', name: 'get_weather', arguments: { city: 'Rome' } }] },
    );
    const { ctx, events } = context({ config: { maxSteps: 2 } });
    const failure = await failureOf(runtime()(ctx));
    expect(failure.code).toBe('max_steps');
    expect(provider.requests).toHaveLength(2);
    expect(tools.requests.map((r) => r.body)).toEqual([{ city: 'Paris' }]);
    expect(types(events)).toEqual(['tool.call', 'tool.result']);
  });

  it('tells the model about a failing tool, an unknown tool and arguments that are not JSON, and goes on', async () => {
    provider.reply(
      {
        toolCalls: [
          { id: 'x1', name: 'flaky', arguments: {} },
          { id: 'x2', name: 'teleport', arguments: {} },
          { id: 'x3', name: 'get_weather', arguments: '{"city": "Par' },
        ],
      },
      { text: 'Sorry, the tools failed.' },
    );
    const { ctx, events } = context({ tools: [weather(), { name: 'flaky', url: `${tools.url}/broken` }] });
    expect((await runtime()(ctx)).output).toMatchObject({ text: 'Sorry, the tools failed.', steps: 2 });
    const results = events.filter((e) => e.type === 'tool.result').map((e) => e.data);
    expect(results.map((r) => [r.id, r.ok])).toEqual([
      ['x1', false],
      ['x2', false],
      ['x3', false],
    ]);
    expect(results[0]!.error).toBe('The tool answered HTTP 503: down for maintenance');
    expect(results[1]!.error).toBe('There is no tool named "teleport".');
    expect(results[2]!.error).toMatch(/^The arguments are not a JSON object/);
    expect(events.find((e) => e.type === 'tool.call' && e.data.id === 'x3')!.data.arguments).toBe('{"city": "Par');
    const fedBack = (provider.requests[1]!.body!.messages as { role: string; content: string }[]).filter((m) => m.role === 'tool');
    expect(fedBack.map((m) => JSON.parse(m.content) as unknown)).toEqual(results.map((r) => ({ error: r.error })));
    expect(tools.requests.map((r) => r.path)).toEqual(['/broken']);
  });
});

describe('a run on a thread', () => {
  const message = (seq: number, role: string, content: unknown[]) =>
    ({ id: `msg_${seq}`, object: 'thread_message', threadId: 'thread_1', seq, role, content, runId: null, metadata: {}, createdAt: '' }) as never;
  const thread = (messages: unknown[]) => ({ id: 'thread_1', state: {}, stateVersion: 0, messages, hasEarlier: true }) as never;

  it('sends the thread from its first user message (system ones join the instructions), and returns its turns as messages', async () => {
    provider.reply({ toolCalls: [{ id: 'call_now', name: 'get_weather', arguments: { city: 'Oslo' } }] }, { text: 'Oslo has rain.' });
    const { ctx } = context({}, { ignored: true });
    ctx.thread = thread([
      // A claim carries the latest messages: these answer a call it no longer holds.
      message(7, 'tool', [{ type: 'tool_result', toolCallId: 'call_old', content: '{}' }]),
      message(8, 'system', [{ type: 'text', text: 'Use Celsius.' }]),
      message(9, 'user', [
        { type: 'text', text: 'Hi, ' },
        { type: 'data', data: { city: 'Paris' } },
      ]),
      message(10, 'assistant', [
        { type: 'text', text: 'Looking.' },
        { type: 'tool_call', id: 'call_p', name: 'get_weather', arguments: { city: 'Paris' } },
      ]),
      message(11, 'tool', [{ type: 'tool_result', toolCallId: 'call_p', content: '{"forecast":"sunny"}', isError: false }]),
      message(12, 'user', [{ type: 'text', text: 'And Oslo?' }]),
    ]);
    const outcome = await runtime()(ctx);
    expect(provider.requests[0]!.body!.messages).toEqual([
      { role: 'system', content: 'Answer with the forecast.\n\nUse Celsius.' },
      { role: 'user', content: 'Hi, {"city":"Paris"}' },
      {
        role: 'assistant',
        content: 'Looking.',
        tool_calls: [{ id: 'call_p', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_p', content: '{"forecast":"sunny"}' },
      { role: 'user', content: 'And Oslo?' },
    ]);
    expect(outcome.messages).toEqual([
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_now', name: 'get_weather', arguments: { city: 'Oslo' } }] },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_now', content: '{"city":"Oslo","forecast":"rain"}', isError: false }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Oslo has rain.' }] },
    ]);
  });

  it('adds what fits a thread: long text cut and marked, NUL replaced, arguments too deep kept as text, at most 100 messages', async () => {
    const long = 'x'.repeat(150_000);
    const deep = Array.from({ length: 12 }).reduce<unknown>((inner) => ({ inner }), 'bottom') as Record<string, unknown>;
    provider.reply({ toolCalls: [{ id: 'c1', name: 'unknown_tool', arguments: deep }] }, { text: `${long}\u0000end` });
    const { ctx } = context({}, {});
    ctx.thread = thread([message(1, 'user', [{ type: 'text', text: 'Go.' }])]);
    const added = (await runtime()(ctx)).messages!;
    const call = added[0]!.content[0] as unknown as { type: 'tool_call'; arguments: { raw: string } };
    expect(call.type).toBe('tool_call');
    expect(JSON.parse(call.arguments.raw)).toEqual(deep);
    const answer = (added[2]!.content[0] as { text: string }).text;
    expect(answer).toHaveLength(100_000);
    expect(answer.endsWith(`[cut: 150004 characters in all]`)).toBe(true);
    expect(answer).not.toContain('\u0000');

    // 60 tool steps make 120 messages: the thread keeps what the assistant said.
    const steps = Array.from({ length: 60 }, (_, i) => ({ text: `step ${i}`, toolCalls: [{ id: `s${i}`, name: 'unknown_tool', arguments: {} }] }));
    provider.reply(...steps, { text: 'done' });
    const busy = context({ config: { maxSteps: 61 } }, {});
    busy.ctx.thread = thread([message(1, 'user', [{ type: 'text', text: 'Go.' }])]);
    const folded = (await runtime()(busy.ctx)).messages!;
    expect(folded).toHaveLength(61);
    expect(folded.every((m) => m.role === 'assistant' && m.content.every((part) => part.type === 'text'))).toBe(true);
    expect(folded.at(-1)).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'done' }] });
  });

  it('a thread without a user message gives the model the run input', async () => {
    provider.reply({ text: 'ok' });
    const { ctx } = context({}, { prompt: 'From the input.' });
    ctx.thread = thread([message(1, 'system', [{ type: 'text', text: 'Be kind.' }])]);
    const outcome = await runtime()(ctx);
    expect(provider.requests[0]!.body!.messages).toEqual([
      { role: 'system', content: 'Answer with the forecast.\n\nBe kind.' },
      { role: 'user', content: 'From the input.' },
    ]);
    expect(outcome.messages).toEqual([{ role: 'assistant', content: [{ type: 'text', text: 'ok' }] }]);
  });
});

describe('Anthropic messages (models whose API is messages)', () => {
  it('speaks messages with the same tool loop: system, max_tokens, tool_use and tool_result blocks', async () => {
    provider.reply(...twoToolCallsThenAnswer(['toolu_paris', 'toolu_lyon']));
    const { ctx, events } = context({ modelApi: 'messages', model: 'claude-default', config: { maxTokens: 512 } });
    const outcome = await runtime()(ctx);
    expect(outcome.output).toEqual({ text: 'Paris is sunny and Lyon has rain.', finishReason: 'stop', steps: 3 });
    expect(types(events)).toEqual(['tool.call', 'tool.result', 'output.delta', 'tool.call', 'tool.result', 'output.delta']);
    expect(events.filter((e) => e.type === 'tool.result').map((e) => e.data.result)).toEqual([
      { city: 'Paris', forecast: 'sunny' },
      { city: 'Lyon', forecast: 'rain' },
    ]);
    expect(provider.requests.map((r) => [r.path, r.headers.authorization, r.headers['anthropic-version']])).toEqual(
      Array(3).fill(['/v1/messages', `Bearer ${RUN_TOKEN}`, '2023-06-01']),
    );
    const [first, , last] = provider.requests.map((r) => r.body!);
    expect(first).toEqual({
      model: 'claude-default',
      stream: true,
      max_tokens: 512,
      system: 'Answer with the forecast.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Lyon?' }] }],
      tools: [{ name: 'get_weather', description: 'The forecast of a city', input_schema: weather().inputSchema }],
    });
    expect(last!.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Lyon?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_paris', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_paris', content: '{"city":"Paris","forecast":"sunny"}', is_error: false }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking Lyon too.' },
          { type: 'tool_use', id: 'toolu_lyon', name: 'get_weather', input: { city: 'Lyon' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_lyon', content: '{"city":"Lyon","forecast":"rain"}', is_error: false }] },
    ]);
  });

  it('maps the stop reason (max_tokens is length) and a provider error to model_error with its message', async () => {
    provider.reply({ text: 'Cut short', finishReason: 'length' }, { status: 529, error: { message: 'Overloaded right now' } });
    expect((await runtime()(context({ modelApi: 'messages' }).ctx)).output).toMatchObject({ finishReason: 'length' });
    const failure = await failureOf(runtime()(context({ modelApi: 'messages' }).ctx));
    expect(failure.code).toBe('model_error');
    expect(failure.message).toBe('The model answered HTTP 529: Overloaded right now');
  });
});

describe('failures', () => {
  it('a provider 500 is model_error with the upstream message; 404 is model_not_found', async () => {
    provider.reply(
      { status: 500, error: { message: 'The engine is on fire' } },
      { status: 404, error: { message: 'The model `support-default` does not exist' } },
    );
    const error = await failureOf(runtime()(context().ctx));
    expect([error.code, error.message]).toEqual(['model_error', 'The model answered HTTP 500: The engine is on fire']);
    const missing = await failureOf(runtime()(context().ctx));
    expect([missing.code, missing.message]).toEqual(['model_not_found', 'The model answered HTTP 404: The model `support-default` does not exist']);
  });

  it('a stream cut before [DONE] and a malformed chunk are model_error; the text before them is kept', async () => {
    provider.reply({ text: 'partial answer here', cutAfterChunks: 3, chunkDelayMs: 5 }, { text: 'a b', malformedAfterChunks: 1 });
    const { ctx, events } = context();
    const cut = await failureOf(runtime()(ctx));
    expect(cut.code).toBe('model_error');
    expect(cut.message).toMatch(/ended before its end marker|broke off/);
    expect(textOf(events)).toBe('partial answer');
    const malformed = await failureOf(runtime()(context().ctx));
    expect(malformed.code).toBe('model_error');
    expect(malformed.message).toMatch(/not a JSON object/);
  });

  it('a model silent for longer than the idle timeout is model_timeout, and the request is dropped', async () => {
    provider.reply({ hang: true });
    const failure = await failureOf(runtime({ modelIdleTimeoutMs: 300 })(context().ctx));
    expect(failure.code).toBe('model_timeout');
    expect(await provider.requests[0]!.settled).toBe('aborted');
  });

  it('a gateway that cannot be reached is model_error', async () => {
    const failure = await failureOf(runtime({ openaiBaseUrl: 'http://127.0.0.1:9/v1' })(context().ctx));
    expect(failure.code).toBe('model_error');
    expect(failure.message).toMatch(/^The model could not be reached/);
  });

  it('a run without a run token fails with no_run_token, calling nothing', async () => {
    const { ctx } = context();
    const failure = await failureOf(runtime()({ ...ctx, runToken: undefined }));
    expect(failure.code).toBe('no_run_token');
    expect(provider.requests).toHaveLength(0);
  });

  it('a tool on a private address is refused when the runner does not allow them: tool_error, no connection made', async () => {
    provider.reply({ toolCalls: [{ id: 'p1', name: 'get_weather', arguments: { city: 'Paris' } }] });
    const before = tools.connections();
    const { ctx, events } = context();
    const failure = await failureOf(runtime({ allowPrivateAddresses: false })(ctx));
    expect(failure.code).toBe('tool_error');
    expect(failure.message).toMatch(/^The tool "get_weather" is at an address this runner does not call: .*127\.0\.0\.1.*private/);
    expect(tools.connections()).toBe(before);
    expect(events.map((e) => [e.type, e.data.ok])).toEqual([
      ['tool.call', undefined],
      ['tool.result', false],
    ]);
    expect(provider.requests).toHaveLength(1);
  });
});

describe('cancellation', () => {
  it('aborting the run aborts the streaming model call: the provider sees the connection close', async () => {
    provider.reply({ text: 'one two three four', hangAfterChunks: 2 });
    const controller = new AbortController();
    const { ctx, events } = context({}, undefined, controller.signal);
    const running = runtime({ deltaIntervalMs: 1 })(ctx);
    await until(() => events.some((e) => e.type === 'output.delta'), 'the first text');
    controller.abort(new Error('run cancelled'));
    await expect(running).rejects.toThrow('run cancelled');
    expect(await provider.requests[0]!.settled).toBe('aborted');
    expect(textOf(events)).toBe('one');
  });

  it('aborting the run aborts the tool call in flight: the tool sees the connection close', async () => {
    provider.reply({ toolCalls: [{ id: 's1', name: 'slow', arguments: { city: 'Paris' } }] });
    const controller = new AbortController();
    const { ctx } = context({ tools: [{ name: 'slow', url: `${tools.url}/slow` }] }, undefined, controller.signal);
    const closedBefore = tools.closed();
    const running = runtime()(ctx);
    await until(() => tools.requests.some((r) => r.path === '/slow'), 'the tool call');
    controller.abort(new Error('run cancelled'));
    await expect(running).rejects.toThrow('run cancelled');
    await until(() => tools.closed() > closedBefore, 'the tool connection to close');
    expect(provider.requests).toHaveLength(1);
  });
});
