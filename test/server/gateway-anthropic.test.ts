import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { aliasName, createAlias, num, startGateway, usageRow, type Gateway } from './gateway-helpers.js';

/**
 * The gateway's Anthropic route, driven by the official `@anthropic-ai/sdk` client pointed at it
 * (baseURL `<server>/api/v1/llm/anthropic`, an application key as its API key).
 */
let gateway: Gateway;
let anthropic: Anthropic;
let claude: string;

/** 3 USD per million input tokens, 0.30 per million read from the cache, 15 per million output tokens. */
const PRICING = { inputMicrosPerMillionTokens: 3_000_000, cachedInputMicrosPerMillionTokens: 300_000, outputMicrosPerMillionTokens: 15_000_000 };

beforeAll(async () => {
  gateway = await startGateway();
  anthropic = new Anthropic({ apiKey: gateway.server.adminKey, baseURL: gateway.anthropicBaseUrl, maxRetries: 0 });
  claude = (await createAlias(gateway, { alias: aliasName('claude'), upstreamModel: 'claude-sonnet-4-5', api: 'messages', pricing: PRICING })).alias;
});
afterAll(async () => {
  await gateway?.stop();
});
beforeEach(() => {
  expect(gateway.provider.pending()).toBe(0);
});

const last = () => gateway.provider.requests.at(-1)!;
const messages = [{ role: 'user' as const, content: 'Was I charged twice?' }];

describe('messages through the gateway', () => {
  it('answers a message with the provider credential as x-api-key, the caller version forwarded, cache reads and writes counted as input', async () => {
    gateway.provider.reply({ text: 'One refund is on its way.', usage: { input: 2000, output: 100, cachedInput: 1500, cacheWrite: 300 } });
    const { data, response } = await anthropic.messages
      .create({ model: claude, max_tokens: 256, messages }, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } })
      .withResponse();
    expect(data.content).toEqual([{ type: 'text', text: 'One refund is on its way.' }]);
    expect(data.usage).toMatchObject({ input_tokens: 200, cache_read_input_tokens: 1500, cache_creation_input_tokens: 300, output_tokens: 100 });

    expect(last().path).toBe('/v1/messages');
    expect(last().body).toEqual({ model: 'claude-sonnet-4-5', max_tokens: 256, messages });
    expect(last().headers['x-api-key']).toBe(gateway.credential);
    expect(last().headers.authorization).toBeUndefined();
    // The SDK's own version is forwarded (not the default), and its beta.
    expect(last().headers['anthropic-version']).toBe('2026-10-21');
    expect(last().headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');

    // 500 x 3 + 1500 x 0.30 + 100 x 15 = 3450 micro-USD.
    expect(response.headers.get('switchboard-cost-micros')).toBe('3450');
    expect(response.headers.get('switchboard-model')).toBe('claude-sonnet-4-5');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ api: 'messages', outcome: 'succeeded', provider_id: gateway.anthropicProvider.id });
    expect([num(row.input_tokens), num(row.cached_input_tokens), num(row.output_tokens), num(row.cost_micros)]).toEqual([2000, 1500, 100, 3450]);
  });

  it('streams the named events unchanged and records the usage of message_start and message_delta', async () => {
    gateway.provider.reply({ text: 'Refund issued today.', usage: { input: 40, output: 6, cachedInput: 10 } });
    const { data: stream, response } = await anthropic.messages.create({ model: claude, max_tokens: 256, messages, stream: true }).withResponse();
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(text).toBe('Refund issued today.');
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(response.headers.get('switchboard-cost-micros')).toBeNull();

    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(Boolean(row.streamed)).toBe(true);
    // 30 x 3 + 10 x 0.30 + 6 x 15 = 183 micro-USD.
    expect([num(row.input_tokens), num(row.cached_input_tokens), num(row.output_tokens), num(row.cost_micros)]).toEqual([40, 10, 6, 183]);
  });

  it('keeps streamed tool-use deltas intact through the SDK helper', async () => {
    const input = { city: 'Paris', days: 3 };
    gateway.provider.reply({ toolCalls: [{ id: 'toolu_01weather', name: 'get_weather', arguments: input }] });
    const final = await anthropic.messages
      .stream({
        model: claude,
        max_tokens: 256,
        messages,
        tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      })
      .finalMessage();
    expect(final.content).toEqual([{ type: 'tool_use', id: 'toolu_01weather', name: 'get_weather', input }]);
    expect(final.stop_reason).toBe('tool_use');
  });

  it('falls back when the provider is overloaded (529), a status it does not retry', async () => {
    const backup = await createAlias(gateway, { alias: aliasName('backup'), api: 'messages', upstreamModel: 'claude-haiku-4-5', retry: { attempts: 0 } });
    const alias = (await createAlias(gateway, { alias: aliasName('busy'), api: 'messages', fallbacks: [backup.alias], retry: { attempts: 2, backoffMs: 0 } }))
      .alias;
    const before = gateway.provider.requests.length;
    gateway.provider.reply({ status: 529 }, { text: 'From the backup.' });
    const { data, response } = await anthropic.messages.create({ model: alias, max_tokens: 64, messages }).withResponse();
    expect(data.content).toEqual([{ type: 'text', text: 'From the backup.' }]);
    expect(gateway.provider.requests.length - before).toBe(2);
    expect(response.headers.get('switchboard-model')).toBe('claude-haiku-4-5');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'succeeded', attempts: 2, fallbacks_used: 1 });
  });

  it('accepts the key as x-api-key and sends anthropic-version 2023-06-01 when the caller sends none', async () => {
    gateway.provider.reply({ text: 'Hello.' });
    const res = await fetch(`${gateway.anthropicBaseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': gateway.server.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: claude, max_tokens: 32, messages }),
    });
    expect(res.status).toBe(200);
    expect(last().headers['anthropic-version']).toBe('2023-06-01');
    expect(last().headers['x-api-key']).toBe(gateway.credential);
  });
});

describe('token counts through the gateway', () => {
  it('counts with the official client, and records nothing (counting consumes no tokens)', async () => {
    gateway.provider.reply({ usage: { input: 42, output: 0 } });
    const { data, response } = await anthropic.messages.countTokens({ model: claude, messages, system: 'Be brief.' }).withResponse();
    expect(data).toEqual({ input_tokens: 42 });
    expect(last()).toMatchObject({ path: '/v1/messages/count_tokens', body: { model: 'claude-sonnet-4-5', messages, system: 'Be brief.' } });
    expect(last().headers['x-api-key']).toBe(gateway.credential);
    expect(response.headers.get('switchboard-model')).toBe('claude-sonnet-4-5');
    expect(await gateway.db('usage_events').where({ request_id: response.headers.get('request-id') })).toEqual([]);
  });
});

describe('errors in Anthropic envelopes', () => {
  it('answers an unknown alias with the SDK NotFoundError', async () => {
    const err = await anthropic.messages.create({ model: 'no-such-alias', max_tokens: 32, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as InstanceType<typeof Anthropic.NotFoundError>).error).toEqual({
      type: 'error',
      error: { type: 'not_found_error', message: 'The model alias "no-such-alias" does not exist in this application.' },
    });
  });

  it('answers a bad key with the SDK AuthenticationError, sent as a bearer token or as x-api-key', async () => {
    const stranger = new Anthropic({ apiKey: 'sbk_not-a-real-key', baseURL: gateway.anthropicBaseUrl, maxRetries: 0 });
    const err = await stranger.messages.create({ model: claude, max_tokens: 32, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });

    const res = await fetch(`${gateway.anthropicBaseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sbk_not-a-real-key', 'content-type': 'application/json' },
      body: JSON.stringify({ model: claude, max_tokens: 32, messages }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('answers a body without messages with 400 invalid_request_error', async () => {
    const res = await fetch(`${gateway.anthropicBaseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': gateway.server.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: claude, max_tokens: 32, stream: 'yes' }),
    });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('messages') } });
    expect(body.error.message).toContain('/stream');
  });

  it('answers a chat alias on the messages route with 400', async () => {
    const chat = await createAlias(gateway, { alias: aliasName('chat'), api: 'chat' });
    const err = await anthropic.messages.create({ model: chat.alias, max_tokens: 32, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toContain('serves the chat API');
  });
});
