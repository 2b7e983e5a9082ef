import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sineWav, startTestProvider, wavDurationSeconds, type TestProvider } from '../support/test-provider.js';

/**
 * The test provider other suites rely on, driven by the official `openai` and `@anthropic-ai/sdk`
 * clients: if they parse what it sends, it speaks the real protocols.
 */
let provider: TestProvider;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  provider = await startTestProvider({ apiKey: 'sk-test-provider' });
  openai = new OpenAI({ apiKey: 'sk-test-provider', baseURL: provider.openaiBaseUrl, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'sk-test-provider', baseURL: provider.url, maxRetries: 0 });
});
afterAll(async () => {
  await provider.close();
});
beforeEach(() => {
  expect(provider.pending()).toBe(0);
});

const last = () => provider.requests.at(-1)!;
const WEATHER_TOOL = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

describe('OpenAI chat completions', () => {
  it('answers a non-streamed request with the scripted text, model and usage, and records the request', async () => {
    provider.reply({ text: 'Paris is the capital.', model: 'gpt-4.1-2025-04-14', usage: { input: 11, output: 5 } });
    const completion = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Capital of France?' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4.1-2025-04-14');
    expect(completion.choices[0]!.message.content).toBe('Paris is the capital.');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 });
    expect(completion._request_id).toMatch(/^req_/);
    expect(last()).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      body: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Capital of France?' }] },
      outcome: 'completed',
    });
    expect(last().headers.authorization).toBe('Bearer sk-test-provider');
  });

  it('streams the text in several chunks ending with [DONE]; no usage chunk unless include_usage is asked', async () => {
    provider.reply({ text: 'One two three four.' });
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Count' }], stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe('One two three four.');
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(4);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
  });

  it('with stream_options.include_usage sends usage: null on every chunk and a last chunk with choices: [] and the usage', async () => {
    provider.reply({ text: 'Hi there.', usage: { input: 7, output: 2 } });
    const stream = await openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const final = chunks.at(-1)!;
    expect(final.choices).toEqual([]);
    expect(final.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(last().body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('streams tool calls whose arguments arrive in pieces; the SDK assembles them', async () => {
    provider.reply({
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris' } },
        { id: 'call_b', name: 'get_weather', arguments: { city: 'Lyon' } },
      ],
    });
    const runner = openai.chat.completions.stream({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Weather?' }], tools: [WEATHER_TOOL] });
    const argumentDeltas: string[] = [];
    runner.on('chunk', (chunk) => {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) if (call.function?.arguments) argumentDeltas.push(call.function.arguments);
    });
    const completion = await runner.finalChatCompletion();
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } },
    ]);
    expect(argumentDeltas.length).toBeGreaterThan(2);
  });

  it('answers non-streamed tool calls', async () => {
    provider.reply({ toolCalls: [{ id: 'call_x', name: 'get_weather', arguments: { city: 'Rome' } }] });
    const completion = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Weather?' }], tools: [WEATHER_TOOL] });
    expect(completion.choices[0]!.message).toMatchObject({
      content: null,
      tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }],
    });
  });

  it.each([
    [404, 'NotFoundError', 'model_not_found'],
    [429, 'RateLimitError', 'rate_limit_exceeded'],
    [500, 'InternalServerError', null],
  ])('a %i reply reaches the SDK as %s with OpenAI error fields', async (status, name, code) => {
    provider.reply({ status, error: { message: `scripted ${String(status)}` } });
    const err = (await openai.chat.completions
      .create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.constructor.name).toBe(name);
    expect(err.status).toBe(status);
    expect(err.code).toBe(code);
    expect(err.error).toMatchObject({ message: `scripted ${String(status)}` });
    expect(err.message).toContain(`scripted ${String(status)}`);
  });

  it('refuses a wrong key with 401 in the OpenAI envelope', async () => {
    const stranger = new OpenAI({ apiKey: 'sk-wrong', baseURL: provider.openaiBaseUrl, maxRetries: 0 });
    const err = await stranger.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');
  });

  it('a stream cut mid-way makes the SDK fail, and the request is recorded as cut', async () => {
    provider.reply({ text: 'a b c d e f', cutAfterChunks: 3, chunkDelayMs: 20 });
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(seen.join('')).toBe('a b');
    expect(await last().settled).toBe('cut');
  });

  it('a malformed chunk makes the SDK fail to parse the stream', async () => {
    provider.reply({ text: 'a b c', malformedAfterChunks: 2 });
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true });
    const received: unknown[] = [];
    const failure = await (async () => {
      for await (const chunk of stream) received.push(chunk);
    })().catch((e: unknown) => e);
    expect(String(failure)).toMatch(/JSON/);
    expect(received).toHaveLength(2);
  });

  it('a stream that never reports usage sends no usage chunk even when asked', async () => {
    provider.reply({ text: 'no usage', usage: false });
    const stream = await openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('a hanging reply holds the request until the client gives up; the provider sees it go away', async () => {
    provider.reply({ hang: true });
    const err = await openai.chat.completions
      .create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] }, { timeout: 300 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(await last().settled).toBe('aborted');
  });

  it('a stream stalled after some chunks ends when the client aborts it (the SDK ends its iteration quietly)', async () => {
    provider.reply({ text: 'a b c d', hangAfterChunks: 2, chunkDelayMs: 5 });
    const controller = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: controller.signal },
    );
    const seen: string[] = [];
    for await (const chunk of stream) {
      seen.push(chunk.choices[0]?.delta.content ?? '');
      if (seen.length === 2) controller.abort();
    }
    expect(seen).toEqual(['', 'a']);
    expect(await last().settled).toBe('aborted');
  });

  it('a delay before the headers holds the response back', async () => {
    provider.reply({ delayMs: 200, text: 'late' });
    const started = Date.now();
    const completion = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0]!.message.content).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('a reply function sees the request it answers', async () => {
    provider.reply((request) => ({ text: `you said ${(request.body?.messages as { content: string }[])[0]!.content}` }));
    const completion = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'ping' }] });
    expect(completion.choices[0]!.message.content).toBe('you said ping');
  });

  it('refuses a request without messages as OpenAI does, without taking a reply', async () => {
    provider.reply({ text: 'kept' });
    const err = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('messages');
    expect(provider.pending()).toBe(1);
    await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] });
  });
});

describe('OpenAI embeddings and models', () => {
  it('embeds (the SDK asks for base64 and decodes it): equal inputs give equal unit vectors, with usage', async () => {
    const result = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta', 'alpha'], dimensions: 16 });
    expect(last().body).toMatchObject({ encoding_format: 'base64', dimensions: 16 });
    expect(result.data.map((d) => d.index)).toEqual([0, 1, 2]);
    const [a, b, a2] = result.data.map((d) => d.embedding);
    expect(a).toHaveLength(16);
    expect(a2).toEqual(a);
    expect(b).not.toEqual(a);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5);
    expect(result.usage.total_tokens).toBeGreaterThan(0);
  });

  it('lists the models', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);
    expect(models).toEqual(provider.models);
  });
});

describe('OpenAI audio transcriptions', () => {
  const wav = sineWav({ seconds: 2 });

  it('the WAV helper makes a 2 s PCM file', () => {
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.length).toBe(44 + 2 * 16_000 * 2);
    expect(wavDurationSeconds(wav)).toBe(2);
  });

  it('json: the text; the upload and its fields are recorded', async () => {
    provider.reply({ text: 'Hello world.' });
    const result = await openai.audio.transcriptions.create({ file: await toFile(wav, 'tone.wav', { type: 'audio/wav' }), model: 'whisper-1', language: 'en' });
    expect(result.text).toBe('Hello world.');
    const body = last().body as { file: { filename: string; mimeType: string; data: Buffer }; model: string; language: string };
    expect(body.model).toBe('whisper-1');
    expect(body.language).toBe('en');
    expect(body.file.filename).toBe('tone.wav');
    expect(body.file.mimeType).toBe('audio/wav');
    expect(body.file.data.equals(wav)).toBe(true);
  });

  it('verbose_json: duration from the WAV, language, segments with start/end/text, and words when asked', async () => {
    provider.reply({ text: 'First part. Second part.' });
    const result = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'tone.wav'),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['segment', 'word'],
    });
    expect(last().body).toMatchObject({ 'timestamp_granularities[]': ['segment', 'word'], response_format: 'verbose_json' });
    expect(result.duration).toBe(2);
    expect(result.language).toBe('english');
    expect(result.text).toBe('First part. Second part.');
    expect(result.segments?.map((s) => [s.start, s.end, s.text])).toEqual([
      [0, 1, ' First part.'],
      [1, 2, ' Second part.'],
    ]);
    expect(result.words?.map((w) => w.word)).toEqual(['First', 'part.', 'Second', 'part.']);
  });

  it('text, srt and vtt come back as strings', async () => {
    const script = { text: 'Only one.', transcript: { segments: [{ start: 0, end: 1.5, text: ' Only one.' }] } };
    provider.reply(script, script, script);
    const file = await toFile(wav, 'tone.wav');
    const text = await openai.audio.transcriptions.create({ file, model: 'whisper-1', response_format: 'text' });
    const srt = await openai.audio.transcriptions.create({ file, model: 'whisper-1', response_format: 'srt' });
    const vtt = await openai.audio.transcriptions.create({ file, model: 'whisper-1', response_format: 'vtt' });
    expect(text).toBe('Only one.\n');
    expect(srt).toBe('1\n00:00:00,000 --> 00:00:01,500\nOnly one.\n\n');
    expect(vtt).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nOnly one.\n\n');
  });

  it('refuses an upload without a model, naming the parameter', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'tone.wav');
    const res = await fetch(`${provider.openaiBaseUrl}/audio/transcriptions`, {
      method: 'POST',
      headers: { Authorization: 'Bearer sk-test-provider' },
      body: form,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'model' } });
  });
});

describe('Anthropic messages', () => {
  const TOOL = { name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } };

  it('answers a non-streamed request with text, stop reason and usage, and records the key and API version', async () => {
    provider.reply({ text: 'Bonjour.', usage: { input: 9, output: 3 }, model: 'claude-sonnet-4-5-20250929' });
    const msg = await anthropic.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(msg.content).toEqual([{ type: 'text', text: 'Bonjour.' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.model).toBe('claude-sonnet-4-5-20250929');
    expect(msg.usage).toMatchObject({ input_tokens: 9, output_tokens: 3 });
    expect(last()).toMatchObject({ path: '/v1/messages', body: { system: 'Be brief.', max_tokens: 100 } });
    // Anthropic SDKs from 1.0 on send the key as a bearer token (earlier ones as x-api-key, which the provider takes too).
    expect(last().headers.authorization).toBe('Bearer sk-test-provider');
    expect(last().headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('streams named events: message_start with input tokens, text deltas, tool_use with input_json_delta, message_delta with output tokens', async () => {
    provider.reply({
      text: 'Let me check.',
      toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } }],
      usage: { input: 20, output: 14 },
    });
    const raw = await anthropic.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [TOOL],
      stream: true,
    });
    const types: string[] = [];
    for await (const event of raw) types.push(event.type === 'content_block_delta' ? `${event.type}:${event.delta.type}` : event.type);
    expect(types[0]).toBe('message_start');
    expect(types.filter((t) => t === 'content_block_delta:text_delta').length).toBe(3);
    expect(types.filter((t) => t === 'content_block_delta:input_json_delta').length).toBeGreaterThan(1);
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);

    provider.reply({
      text: 'Let me check.',
      toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } }],
      usage: { input: 20, output: 14 },
    });
    const final = await anthropic.messages
      .stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Weather?' }], tools: [TOOL] })
      .finalMessage();
    expect(final.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({ input_tokens: 20, output_tokens: 14 });
  });

  it.each([
    [400, 'BadRequestError', 'invalid_request_error'],
    [404, 'NotFoundError', 'not_found_error'],
    [529, 'OverloadedError', 'overloaded_error'],
  ])('a %i reply reaches the SDK as %s with the Anthropic envelope', async (status, name, type) => {
    provider.reply({ status, error: { message: `scripted ${String(status)}` } });
    const err = (await anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.constructor.name).toBe(name);
    expect(err.status).toBe(status);
    expect(err.error).toEqual({ type: 'error', error: { type, message: `scripted ${String(status)}` } });
    expect(err.requestID).toMatch(/^req_/);
  });

  it('refuses a request without max_tokens as Anthropic does', async () => {
    const res = await fetch(`${provider.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-test-provider', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  });

  it('a stream cut mid-way makes the SDK fail', async () => {
    provider.reply({ text: 'a b c d', cutAfterChunks: 4, chunkDelayMs: 5 });
    const failure = await anthropic.messages
      .stream({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(await last().settled).toBe('cut');
  });
});

describe('the provider as a process (for the benchmark)', () => {
  it('prints its URL and streams N tokens to every chat request, then stops on SIGTERM', async () => {
    const main = path.join(import.meta.dirname, '../support/test-provider-main.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', main, '--tokens', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const url = line.toString().trim();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new OpenAI({ apiKey: 'any', baseURL: `${url}/v1`, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: 'bench', messages: [{ role: 'user', content: 'go' }], stream: true });
      const pieces: string[] = [];
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) pieces.push(chunk.choices[0].delta.content);
      expect(pieces).toEqual(['token0', ' token1', ' token2', ' token3', ' token4']);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
