import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from './helpers.js';
import { aliasName, createAlias, startGateway, type Gateway } from './gateway-helpers.js';
import { parseRateLimit } from './helpers.js';

/**
 * What the pipeline refuses before any provider is called (credential, scope, rate limit, body
 * size and type, JSON) is answered on the gateway's routes in the provider's envelope, with the
 * same status and headers as elsewhere; every other route keeps RFC 9457.
 */
let gateway: Gateway;
let chat: string;
let claude: string;
const LIMIT = 1_500_000;
const LLM_BUDGET = 4;

beforeAll(async () => {
  gateway = await startGateway({ GATEWAY_BODY_LIMIT_BYTES: String(LIMIT), RATE_LIMIT_LLM: String(LLM_BUDGET) });
  chat = (await createAlias(gateway, { alias: aliasName('chat'), api: 'chat' })).alias;
  claude = (await createAlias(gateway, { alias: aliasName('claude'), api: 'messages', upstreamModel: 'claude-sonnet-4-5' })).alias;
});
afterAll(async () => {
  await gateway?.stop();
});

/** A key of its own, so each test has a whole llm budget. */
const freshKey = async (scopes: ('read' | 'write' | 'admin')[] = ['write']) =>
  (await createKey({ scopes, by: gateway.server.adminKey, baseUrl: gateway.server.url })).secret;

const post = (path: string, key: string, body: string, contentType = 'application/json') =>
  fetch(`${gateway.server.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': contentType }, body });

const CHAT = '/api/v1/llm/openai/v1/chat/completions';
const MESSAGES = '/api/v1/llm/anthropic/v1/messages';

describe('refusals of the pipeline, in the provider envelope', () => {
  it('answers a spent llm budget with 429, Retry-After and the RateLimit headers, as the SDKs expect', async () => {
    const key = await freshKey();
    const openai = new OpenAI({ apiKey: key, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
    for (let i = 0; i < LLM_BUDGET; i++) await openai.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hi' }] });
    const err = await openai.chat.completions.create({ model: chat, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ status: 429, type: 'requests', code: 'rate_limit_exceeded' });
    const headers = (err as InstanceType<typeof OpenAI.RateLimitError>).headers;
    expect(Number(headers.get('retry-after'))).toBeGreaterThan(0);
    expect(parseRateLimit(headers.get('ratelimit'))).toMatchObject({ category: 'llm', first: 0 });
    expect(parseRateLimit(headers.get('ratelimit-policy'))).toMatchObject({ category: 'llm', first: LLM_BUDGET, second: 60 });
    expect(headers.get('request-id')).toMatch(/^req_/);
  });

  it('answers a key without the write scope with the SDK PermissionDeniedError; it may still list the models', async () => {
    const key = await freshKey(['read']);
    const anthropic = new Anthropic({ apiKey: key, baseURL: gateway.anthropicBaseUrl, maxRetries: 0 });
    const err = await anthropic.messages.create({ model: claude, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((err as InstanceType<typeof Anthropic.PermissionDeniedError>).error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });

    const openai = new OpenAI({ apiKey: key, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
    const page = await openai.models.list();
    expect(page.data.map((m) => m.id)).toContain(chat);
  });

  it('takes bodies beyond the API limit of 1 MiB, up to the gateway limit; beyond it, 413 in the envelope', async () => {
    const key = await freshKey();
    const big = (size: number) => JSON.stringify({ model: chat, messages: [{ role: 'user', content: 'x'.repeat(size) }] });
    const accepted = await post(CHAT, key, big(1_200_000));
    expect(accepted.status).toBe(200);
    const refused = await post(CHAT, key, big(LIMIT));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({
      error: { message: `The body is larger than ${LIMIT} bytes.`, type: 'invalid_request_error', code: 'request_too_large', param: null },
    });
    // Elsewhere the API's own limit and RFC 9457.
    const agents = await post('/api/v1/agents', gateway.server.adminKey, JSON.stringify({ name: 'big', model: chat, instructions: 'x'.repeat(1_200_000) }));
    expect(agents.status).toBe(413);
    expect(agents.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers malformed JSON and a wrong content type with 400 and 415 in the envelope', async () => {
    const key = await freshKey();
    const malformed = await post(MESSAGES, key, '{"model":');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await malformed.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('not valid JSON') },
    });
    const text = await post(CHAT, key, 'hello', 'text/plain');
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'unsupported_media_type' } });
  });

  it('refuses an unknown query parameter with 400, not 422', async () => {
    const res = await fetch(`${gateway.openaiBaseUrl}/models?limit=5`, { headers: { Authorization: `Bearer ${gateway.server.adminKey}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'limit' } });
  });
});

describe('the rest of the API', () => {
  it('keeps RFC 9457 problems, and does not take a key as x-api-key', async () => {
    const res = await fetch(`${gateway.server.url}/api/v1/models`, { headers: { 'x-api-key': gateway.server.adminKey } });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ code: 'unauthorized', status: 401 });
  });
});
