import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { aliasName, createAlias, num, startGateway, usageRow, type Gateway } from './gateway-helpers.js';
import { call, claim, getRun, label, newAgent, newRun, newRunner, runnerConn } from './run-helpers.js';

/**
 * The gateway's OpenAI routes, driven by the official `openai` client pointed at them (baseURL
 * `<server>/api/v1/llm/openai/v1`, an application key as its API key), against the test provider.
 */
let gateway: Gateway;
let openai: OpenAI;
let chat: string;
let embeddings: string;

/** 0.40 USD per million input tokens, 0.10 per million cached ones, 1.60 per million output tokens. */
const PRICING = { inputMicrosPerMillionTokens: 400_000, cachedInputMicrosPerMillionTokens: 100_000, outputMicrosPerMillionTokens: 1_600_000 };

beforeAll(async () => {
  gateway = await startGateway();
  openai = new OpenAI({ apiKey: gateway.server.adminKey, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
  chat = (await createAlias(gateway, { alias: aliasName('chat'), upstreamModel: 'gpt-4.1-mini', api: 'chat', pricing: PRICING })).alias;
  embeddings = (
    await createAlias(gateway, {
      alias: aliasName('embed'),
      upstreamModel: 'text-embedding-3-small',
      api: 'embeddings',
      pricing: { inputMicrosPerMillionTokens: 20_000 },
    })
  ).alias;
});
afterAll(async () => {
  await gateway?.stop();
});
beforeEach(() => {
  expect(gateway.provider.pending()).toBe(0);
});

const last = () => gateway.provider.requests.at(-1)!;
const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('chat completions through the gateway', () => {
  it('answers a non-streamed completion with the provider credential upstream, the alias replaced, and the cost recorded exactly', async () => {
    gateway.provider.reply({ text: 'Two charges; one refunded.', model: 'gpt-4.1-mini-2025-04-14', usage: { input: 1234, output: 567, cachedInput: 234 } });
    const { data, response } = await openai.chat.completions
      .create({ model: chat, messages: [{ role: 'user', content: 'Was I charged twice?' }], temperature: 0.2 })
      .withResponse();

    expect(data.choices[0]!.message.content).toBe('Two charges; one refunded.');
    expect(data.usage).toMatchObject({ prompt_tokens: 1234, completion_tokens: 567 });
    expect(response.headers.get('switchboard-model')).toBe('gpt-4.1-mini');
    expect(response.headers.get('switchboard-fallbacks')).toBe('0');
    // 1000 x 0.40 + 234 x 0.10 + 567 x 1.60 micro-USD = 1330.6, rounded half up.
    expect(response.headers.get('switchboard-cost-micros')).toBe('1331');

    expect(last().body).toEqual({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Was I charged twice?' }], temperature: 0.2 });
    expect(last().headers.authorization).toBe(`Bearer ${gateway.credential}`);
    expect(JSON.stringify(last().headers)).not.toContain(gateway.server.adminKey);

    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({
      alias: chat,
      upstream_model: 'gpt-4.1-mini',
      api: 'chat',
      outcome: 'succeeded',
      attempts: 1,
      fallbacks_used: 0,
      upstream_status: 200,
    });
    expect(Boolean(row.streamed)).toBe(false);
    expect(Boolean(row.usage_reported)).toBe(true);
    expect([num(row.input_tokens), num(row.output_tokens), num(row.cached_input_tokens), num(row.cost_micros)]).toEqual([1234, 567, 234, 1331]);
    expect(row.provider_id).toBe(gateway.openaiProvider.id);
    expect(row.first_byte_ms).not.toBeNull();
  });

  it('streams without a usage chunk when the caller did not ask for one, yet records the usage (no "$0 for streams")', async () => {
    gateway.provider.reply({ text: 'One two three four.', usage: { input: 50, output: 4 } });
    const { data: stream, response } = await openai.chat.completions
      .create({ model: chat, messages: [{ role: 'user', content: 'Count' }], stream: true })
      .withResponse();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('switchboard-cost-micros')).toBeNull();
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('One two three four.');
    expect(chunks.every((c) => c.choices.length === 1 && !('usage' in c))).toBe(true);
    // Asked upstream all the same.
    expect(last().body).toMatchObject({ model: 'gpt-4.1-mini', stream: true, stream_options: { include_usage: true } });

    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row.outcome).toBe('succeeded');
    expect(Boolean(row.streamed)).toBe(true);
    // 50 x 0.40 + 4 x 1.60 = 26.4 micro-USD.
    expect([num(row.input_tokens), num(row.output_tokens), num(row.cost_micros)]).toEqual([50, 4, 26]);
  });

  it('passes the usage chunk on when the caller asked for it', async () => {
    gateway.provider.reply({ text: 'Hi there.', usage: { input: 7, output: 2 } });
    const stream = await openai.chat.completions.create({
      model: chat,
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('keeps streamed tool-call deltas intact', async () => {
    const args = { city: 'Paris', unit: 'celsius', note: 'quote "this", and a comma' };
    gateway.provider.reply({ toolCalls: [{ id: 'call_weather_1', name: 'get_weather', arguments: args }] });
    const stream = await openai.chat.completions.create({
      model: chat,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [WEATHER_TOOL],
      stream: true,
    });
    let name = '';
    let json = '';
    let id: string | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        id ??= call.id;
        name += call.function?.name ?? '';
        json += call.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ id, name, args: JSON.parse(json), finish }).toEqual({ id: 'call_weather_1', name: 'get_weather', args, finish: 'tool_calls' });
    expect(last().body).toMatchObject({ tools: [WEATHER_TOOL] });
  });

  it('percent-encodes an upstream model name that is not printable ASCII in Switchboard-Model', async () => {
    const accented = (await createAlias(gateway, { alias: aliasName('accented'), upstreamModel: 'modèle local', api: 'chat' })).alias;
    gateway.provider.reply({ text: 'Bonjour.' });
    const { response } = await openai.chat.completions.create({ model: accented, messages: [{ role: 'user', content: 'Salut' }] }).withResponse();
    expect(response.headers.get('switchboard-model')).toBe('mod%C3%A8le%20local');
    expect(last().body).toMatchObject({ model: 'modèle local' });
  });

  it('streams through the SDK helper that assembles the final completion', async () => {
    gateway.provider.reply({ text: 'Assembled answer.', usage: { input: 3, output: 2 } });
    const runner = openai.chat.completions.stream({ model: chat, messages: [{ role: 'user', content: 'Hi' }] });
    const completion = await runner.finalChatCompletion();
    expect(completion.choices[0]!.message.content).toBe('Assembled answer.');
  });
});

describe('embeddings and models through the gateway', () => {
  it('embeds with the official client and records the input tokens and their cost', async () => {
    gateway.provider.reply({ usage: { input: 25, output: 0 } });
    const { data, response } = await openai.embeddings.create({ model: embeddings, input: ['refund policy', 'billing address'] }).withResponse();
    expect(data.data).toHaveLength(2);
    expect(data.data[0]!.embedding).toHaveLength(8);
    expect(last().body).toMatchObject({ model: 'text-embedding-3-small', input: ['refund policy', 'billing address'] });
    // 25 x 0.02 micro-USD = 0.5, rounded half up.
    expect(response.headers.get('switchboard-cost-micros')).toBe('1');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ api: 'embeddings', outcome: 'succeeded' });
    expect([num(row.input_tokens), num(row.output_tokens), num(row.cost_micros)]).toEqual([25, 0, 1]);
  });

  it("lists the application's chat and embeddings aliases, not its messages aliases", async () => {
    const claude = await createAlias(gateway, { alias: aliasName('claude'), upstreamModel: 'claude-sonnet-4-5', api: 'messages' });
    const ids = [];
    for await (const model of openai.models.list()) {
      ids.push(model.id);
      expect(model).toMatchObject({ object: 'model', owned_by: expect.any(String), created: expect.any(Number) });
    }
    expect(ids).toEqual(expect.arrayContaining([chat, embeddings]));
    expect(ids).not.toContain(claude.alias);
  });
});

describe('errors in OpenAI envelopes', () => {
  it('answers an unknown alias with the SDK NotFoundError, code model_not_found', async () => {
    const err = await openai.chat.completions.create({ model: 'no-such-alias', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).requestID).toBeNull();
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).headers.get('request-id')).toMatch(/^req_/);
  });

  it('answers a bad key with the SDK AuthenticationError, and never calls the provider', async () => {
    const before = gateway.provider.requests.length;
    const stranger = new OpenAI({ apiKey: 'sbk_not-a-real-key', baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
    const err = await stranger.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(gateway.provider.requests.length).toBe(before);
  });

  it('answers an alias of another API with a BadRequestError naming model', async () => {
    const err = await openai.chat.completions.create({ model: embeddings, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param: 'model', type: 'invalid_request_error' });
    expect((err as Error).message).toContain('serves the embeddings API');
  });

  it('answers a request without messages with 400 invalid_request_error, as OpenAI does, not 422', async () => {
    const res = await fetch(`${gateway.openaiBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${gateway.server.adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: chat }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const body = await res.json();
    expect(body).toEqual({ error: { message: expect.stringContaining('messages'), type: 'invalid_request_error', code: null, param: 'messages' } });
  });

  it("passes the provider's refusal of the request on with its status and its own fields", async () => {
    gateway.provider.reply({ status: 400, error: { message: "This model's maximum context length is 128000 tokens.", code: 'context_length_exceeded' } });
    const err = await openai.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, code: 'context_length_exceeded', type: 'invalid_request_error' });
    const row = await usageRow(gateway, (err as InstanceType<typeof OpenAI.BadRequestError>).headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'failed', upstream_status: 400, error_code: 'upstream_refused', attempts: 1 });
    expect(num(row.cost_micros)).toBeNull();
  });
});

describe('attribution to end-users', () => {
  const ask = (client: OpenAI, headers?: Record<string, string>) =>
    client.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hello?' }] }, { headers }).withResponse();

  it("records a key's call for the end-user its Switchboard-User names, the same end-user a run for them gets", async () => {
    const customer = `customer-${label()}`;
    gateway.provider.reply({ text: 'Hello.' });
    const { response } = await ask(openai, { 'Switchboard-User': customer });
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row.end_user_id).toMatch(/^eu_/);
    expect(row.run_id).toBeNull();

    const agent = await newAgent(gateway.conn, { model: chat, labels: [label()] });
    const run = await newRun(gateway.conn, agent.id, {}, { 'Switchboard-User': customer });
    expect(run.endUserId).toBe(row.end_user_id);

    gateway.provider.reply({ text: 'Hello again.' });
    const anonymous = await ask(openai);
    expect((await usageRow(gateway, anonymous.response.headers.get('request-id'))).end_user_id).toBeNull();
  });

  it("records a run's call for the run's own end-user, and refuses a run token that names another", async () => {
    const l = label();
    const agent = await newAgent(gateway.conn, { model: chat, labels: [l] });
    const runner = await newRunner(gateway.conn, [l]);
    const run = await newRun(gateway.conn, agent.id, {}, { 'Switchboard-User': `customer-${l}` });
    const { runToken } = await claim(runnerConn(gateway.server.url, runner), runner.id);
    const asRun = new OpenAI({ apiKey: runToken.token, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });

    const sent = gateway.provider.requests.length;
    const refused = await ask(asRun, { 'Switchboard-User': 'someone-else' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).message).toContain("attributed to the run's own end-user");
    expect(gateway.provider.requests).toHaveLength(sent);

    gateway.provider.reply({ text: 'For the run.' });
    const { response } = await ask(asRun);
    const row = await usageRow(gateway, response.headers.get('request-id'));
    // Attributed to the key that started the run, too.
    const { created_by_key_id: starter } = (await gateway.db('runs').where({ id: run.id }).first()) as { created_by_key_id: string };
    expect(starter).toMatch(/^key_/);
    expect(row).toMatchObject({ run_id: run.id, end_user_id: run.endUserId, key_id: starter });
  });

  it('refuses a Switchboard-User that is not 1 to 255 printable ASCII characters, in the OpenAI envelope', async () => {
    for (const value of ['has space', 'x'.repeat(256)]) {
      const refused = await ask(openai, { 'Switchboard-User': value }).catch((err: unknown) => err);
      expect(refused, value).toBeInstanceOf(OpenAI.BadRequestError);
    }
  });
});

describe("a run's usage", () => {
  /** A run of an agent on the `chat` alias, claimed by a runner of its own, and an OpenAI client with its run token. */
  async function runWithToken() {
    const l = label();
    const agent = await newAgent(gateway.conn, { model: chat, labels: [l] });
    const runner = await newRunner(gateway.conn, [l]);
    const run = await newRun(gateway.conn, agent.id);
    const { runToken } = await claim(runnerConn(gateway.server.url, runner), runner.id);
    return { run, client: new OpenAI({ apiKey: runToken.token, baseURL: gateway.openaiBaseUrl, maxRetries: 0 }) };
  }
  const cancel = async (runId: string) => expect((await call(gateway.conn, 'POST', `/api/v1/runs/${runId}/cancel`)).status).toBe(200);

  it('counts the gateway calls of a run that ends without its runner (cancelled)', async () => {
    const { run, client } = await runWithToken();
    gateway.provider.reply({ text: 'Done.', usage: { input: 1000, output: 100 } });
    await client.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Go.' }] });
    await cancel(run.id);
    // 1000 x 0.40 + 100 x 1.60 micro-USD.
    expect(await getRun(gateway.conn, run.id)).toMatchObject({ status: 'cancelled', usage: { inputTokens: 1000, outputTokens: 100 }, costMicros: 560 });
  });

  it('adds a call that ends after its run did, once', async () => {
    const { run, client } = await runWithToken();
    gateway.provider.reply({ text: 'one two three four five', usage: { input: 2000, output: 5 }, chunkDelayMs: 50 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: chat, messages: [{ role: 'user', content: 'Count.' }], stream: true })
      .withResponse();
    let cancelled = false;
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (!cancelled) {
        cancelled = true;
        await cancel(run.id);
        expect(await getRun(gateway.conn, run.id)).toMatchObject({ usage: { inputTokens: 0, outputTokens: 0 }, costMicros: 0 });
      }
    }
    // The stream is the caller's: cancelling the run does not cut it.
    expect(text).toBe('one two three four five');
    await usageRow(gateway, response.headers.get('request-id'), 5_000);
    // 2000 x 0.40 + 5 x 1.60 micro-USD.
    expect(await getRun(gateway.conn, run.id)).toMatchObject({ status: 'cancelled', usage: { inputTokens: 2000, outputTokens: 5 }, costMicros: 808 });
  });
});
