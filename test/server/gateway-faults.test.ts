import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../support/test-provider.js';
import { aliasName, createAlias, createProvider, num, startGateway, usageRow, type Gateway } from './gateway-helpers.js';

/**
 * Faults between the gateway and a provider: retries and fallbacks before the first byte, none
 * after it; cut, stalled, malformed and silent streams; a caller that leaves. Each call leaves
 * exactly one usage row saying what is known.
 */
let gateway: Gateway;
let openai: OpenAI;
/** An alias without retries (each test sets what it needs). */
let plain: string;
/** An alias served by a provider that waits 1 s at most. */
let impatient: string;

const PRICING = { inputMicrosPerMillionTokens: 1_000_000, outputMicrosPerMillionTokens: 2_000_000 };
const NO_RETRY = { attempts: 0 };
const messages = [{ role: 'user' as const, content: 'Hello' }];

beforeAll(async () => {
  gateway = await startGateway();
  openai = new OpenAI({ apiKey: gateway.server.adminKey, baseURL: gateway.openaiBaseUrl, maxRetries: 0 });
  plain = (await createAlias(gateway, { alias: aliasName('plain'), api: 'chat', pricing: PRICING, retry: NO_RETRY })).alias;
  const slow = await createProvider(gateway, 'openai', { timeoutSeconds: 1 });
  impatient = (await createAlias(gateway, { alias: aliasName('impatient'), api: 'chat', providerId: slow.id, retry: NO_RETRY })).alias;
});
afterAll(async () => {
  await gateway?.stop();
});
beforeEach(() => {
  expect(gateway.provider.pending()).toBe(0);
});

const requestCount = () => gateway.provider.requests.length;
const requestIdOf = (err: unknown) => (err as InstanceType<typeof OpenAI.APIError>).headers?.get('request-id') ?? null;

/** An alias falling back to another, each with its own upstream model and prices. */
async function withFallback() {
  const backup = await createAlias(gateway, {
    alias: aliasName('backup'),
    api: 'chat',
    upstreamModel: 'gpt-backup',
    pricing: { inputMicrosPerMillionTokens: 5_000_000, outputMicrosPerMillionTokens: 5_000_000 },
    retry: NO_RETRY,
  });
  const primary = await createAlias(gateway, {
    alias: aliasName('primary'),
    api: 'chat',
    upstreamModel: 'gpt-primary',
    fallbacks: [backup.alias],
    retry: NO_RETRY,
  });
  return primary.alias;
}

/** Reads a stream to its end; what came, and the error that ended it if one did. */
async function drain(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let text = '';
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  } catch (err) {
    return { text, err };
  }
  return { text, err: undefined };
}

describe('retries and fallbacks, before the first byte only', () => {
  it('falls back when the primary answers 503, and says so', async () => {
    const alias = await withFallback();
    gateway.provider.reply({ status: 503 }, { text: 'From the backup.', usage: { input: 10, output: 4 } });
    const before = requestCount();
    const { data, response } = await openai.chat.completions.create({ model: alias, messages }).withResponse();
    expect(data.choices[0]!.message.content).toBe('From the backup.');
    expect(gateway.provider.requests.slice(before).map((r) => r.body?.model)).toEqual(['gpt-primary', 'gpt-backup']);
    expect(response.headers.get('switchboard-fallbacks')).toBe('1');
    expect(response.headers.get('switchboard-model')).toBe('gpt-backup');
    // At the backup's prices: 14 tokens x 5 micro-USD.
    expect(response.headers.get('switchboard-cost-micros')).toBe('70');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'succeeded', attempts: 2, fallbacks_used: 1, upstream_model: 'gpt-backup', alias });
    expect(num(row.cost_micros)).toBe(70);
  });

  it("falls back when the provider refuses the gateway's credential, which is never the caller's fault", async () => {
    const good = await createAlias(gateway, { alias: aliasName('good'), api: 'chat', upstreamModel: 'gpt-good', retry: NO_RETRY });
    const wrong = await createProvider(gateway, 'openai', { credential: 'sk-revoked-long-ago' });
    const alias = (await createAlias(gateway, { alias: aliasName('revoked'), api: 'chat', providerId: wrong.id, fallbacks: [good.alias], retry: NO_RETRY }))
      .alias;
    gateway.provider.reply({ text: 'Served by the good one.' });
    const { data, response } = await openai.chat.completions.create({ model: alias, messages }).withResponse();
    expect(data.choices[0]!.message.content).toBe('Served by the good one.');
    expect(response.headers.get('switchboard-fallbacks')).toBe('1');
    expect(gateway.provider.requests.at(-2)!.headers.authorization).toBe('Bearer sk-revoked-long-ago');

    // Without a fallback it is the gateway's failure (502), not the caller's (401).
    const alone = (await createAlias(gateway, { alias: aliasName('alone'), api: 'chat', providerId: wrong.id, retry: NO_RETRY })).alias;
    const err = await openai.chat.completions.create({ model: alone, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    expect((err as Error).message).toContain("refused the gateway's credential for it (401");
  });

  it('falls back when a stream breaks before its first event', async () => {
    const alias = await withFallback();
    gateway.provider.reply({ cutAfterChunks: 0 }, { text: 'Streamed by the backup.' });
    const { data: stream, response } = await openai.chat.completions.create({ model: alias, messages, stream: true }).withResponse();
    const { text, err } = await drain(stream);
    expect(err).toBeUndefined();
    expect(text).toBe('Streamed by the backup.');
    expect(response.headers.get('switchboard-fallbacks')).toBe('1');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'succeeded', attempts: 2, fallbacks_used: 1 });
  });

  it('never falls back once the stream has begun: a provider cut mid-stream ends the caller stream with an error', async () => {
    const alias = await withFallback();
    gateway.provider.reply({ text: 'one two three four five six', cutAfterChunks: 3 });
    const before = requestCount();
    const { data: stream, response } = await openai.chat.completions.create({ model: alias, messages, stream: true }).withResponse();
    const { text, err } = await drain(stream);
    expect(text).toBe('one two');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain('broke off');
    expect(requestCount() - before).toBe(1);
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'aborted', error_code: 'upstream_cut', attempts: 1, fallbacks_used: 0, upstream_model: 'gpt-primary' });
    expect(Boolean(row.usage_reported)).toBe(false);
  });

  it('retries a 429 after the Retry-After the provider sent', async () => {
    const alias = (await createAlias(gateway, { alias: aliasName('retried'), api: 'chat', retry: { attempts: 2, onStatus: [429], backoffMs: 0 } })).alias;
    const arrivals: number[] = [];
    const arrive = (reply: object) => () => (arrivals.push(performance.now()), reply);
    gateway.provider.reply(arrive({ status: 429, headers: { 'retry-after': '1' } }), arrive({ text: 'Finally.' }));
    const { data, response } = await openai.chat.completions.create({ model: alias, messages }).withResponse();
    expect(data.choices[0]!.message.content).toBe('Finally.');
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'succeeded', attempts: 2, fallbacks_used: 0 });
  });

  it('does not wait for a Retry-After beyond 30 s: the 429 is passed on with it', async () => {
    const alias = (await createAlias(gateway, { alias: aliasName('patient'), api: 'chat', retry: { attempts: 2, onStatus: [429], backoffMs: 0 } })).alias;
    gateway.provider.reply({ status: 429, headers: { 'retry-after': '120' } });
    const err = await openai.chat.completions.create({ model: alias, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('120');
    const row = await usageRow(gateway, requestIdOf(err));
    expect(row).toMatchObject({ outcome: 'failed', attempts: 1, upstream_status: 429, error_code: 'upstream_refused' });
  });

  it('answers 502 once the retries of a failing provider are spent', async () => {
    const alias = (await createAlias(gateway, { alias: aliasName('failing'), api: 'chat', retry: { attempts: 1, backoffMs: 0 } })).alias;
    gateway.provider.reply({ status: 503 }, { status: 500 });
    const err = await openai.chat.completions.create({ model: alias, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error', type: 'server_error' });
    expect((err as Error).message).toContain('2 attempts');
    const row = await usageRow(gateway, requestIdOf(err));
    expect(row).toMatchObject({ outcome: 'failed', attempts: 2, upstream_status: 500, error_code: 'upstream_error' });
  });
});

describe('timeouts', () => {
  it('answers 504 when the provider sends nothing within its timeout, and closes the connection to it', async () => {
    gateway.provider.reply({ hang: true });
    const err = await openai.chat.completions.create({ model: impatient, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(await gateway.provider.requests.at(-1)!.settled).toBe('aborted');
    const row = await usageRow(gateway, requestIdOf(err));
    expect(row).toMatchObject({ outcome: 'failed', error_code: 'upstream_timeout', upstream_status: null });
  });

  it('ends a stream that stalls mid-way with a timeout error', async () => {
    gateway.provider.reply({ text: 'first second third', hangAfterChunks: 2 });
    const { data: stream, response } = await openai.chat.completions.create({ model: impatient, messages, stream: true }).withResponse();
    const { text, err } = await drain(stream);
    expect(text).toBe('first');
    expect(err).toMatchObject({ code: 'upstream_timeout' });
    expect(await gateway.provider.requests.at(-1)!.settled).toBe('aborted');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'failed', error_code: 'upstream_timeout' });
  });
});

describe('a caller that leaves', () => {
  it('mid-stream: the provider sees the connection close, and one row is recorded as aborted', async () => {
    gateway.provider.reply({ text: 'a b c d e f g h i j', chunkDelayMs: 200 });
    const { data: stream, response } = await openai.chat.completions.create({ model: plain, messages, stream: true }).withResponse();
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) break;
    }
    expect(await gateway.provider.requests.at(-1)!.settled).toBe('aborted');
    const row = await usageRow(gateway, response.headers.get('request-id'), 5_000);
    expect(row).toMatchObject({ outcome: 'aborted', error_code: 'client_closed', attempts: 1 });
  });

  it('before the first byte: the provider sees the connection close, and one row is recorded as aborted', async () => {
    let seen!: (request: RecordedRequest) => void;
    const reached = new Promise<RecordedRequest>((resolve) => (seen = resolve));
    gateway.provider.reply((request) => (seen(request), { delayMs: 3_000 }));
    const controller = new AbortController();
    const before = await gateway.db('usage_events').count({ n: '*' });
    const call = openai.chat.completions.create({ model: plain, messages }, { signal: controller.signal }).catch((e: unknown) => e);
    const request = await reached;
    controller.abort();
    expect(await call).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(await request.settled).toBe('aborted');
    const until = Date.now() + 5_000;
    let after = before;
    while (Number(after[0]!.n) === Number(before[0]!.n) && Date.now() < until) after = await gateway.db('usage_events').count({ n: '*' });
    const rows = await gateway.db('usage_events').orderBy('created_at', 'desc').limit(1);
    expect(Number(after[0]!.n)).toBe(Number(before[0]!.n) + 1);
    expect(rows[0]).toMatchObject({ outcome: 'aborted', error_code: 'client_closed', alias: plain });
  });
});

describe('streams that cannot be trusted', () => {
  it('ends the stream with an error after a malformed chunk', async () => {
    gateway.provider.reply({ text: 'alpha beta gamma', malformedAfterChunks: 2 });
    const { data: stream, response } = await openai.chat.completions.create({ model: plain, messages, stream: true }).withResponse();
    const { text, err } = await drain(stream);
    expect(text).toBe('alpha');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain('not JSON');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row).toMatchObject({ outcome: 'failed', error_code: 'upstream_malformed' });
  });

  it('records a stream that never reports usage as unreported, with no counts and no cost', async () => {
    gateway.provider.reply({ text: 'No usage here.', usage: false });
    const { data: stream, response } = await openai.chat.completions.create({ model: plain, messages, stream: true }).withResponse();
    const { text, err } = await drain(stream);
    expect(err).toBeUndefined();
    expect(text).toBe('No usage here.');
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(row.outcome).toBe('succeeded');
    expect(Boolean(row.usage_reported)).toBe(false);
    expect([num(row.input_tokens), num(row.output_tokens), num(row.cached_input_tokens), num(row.cost_micros)]).toEqual([null, null, null, null]);
  });

  it('answers a non-streamed body that is not JSON with 502', async () => {
    gateway.provider.reply({ malformedAfterChunks: 0 });
    const err = await openai.chat.completions.create({ model: plain, messages }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    const row = await usageRow(gateway, requestIdOf(err));
    expect(row).toMatchObject({ outcome: 'failed', error_code: 'upstream_malformed' });
  });

  it('sends no cost header for a model without prices, and records the cost as unknown', async () => {
    const unpriced = (await createAlias(gateway, { alias: aliasName('unpriced'), api: 'chat' })).alias;
    gateway.provider.reply({ text: 'Free?', usage: { input: 5, output: 1 } });
    const { response } = await openai.chat.completions.create({ model: unpriced, messages }).withResponse();
    expect(response.headers.get('switchboard-cost-micros')).toBeNull();
    const row = await usageRow(gateway, response.headers.get('request-id'));
    expect(Boolean(row.usage_reported)).toBe(true);
    expect([num(row.input_tokens), num(row.cost_micros)]).toEqual([5, null]);
  });
});

describe("the provider's credential", () => {
  it('never appears in a response, a log line or a database column, even when the provider quotes it', async () => {
    const bodies: string[] = [];
    const keep = async (res: Response) => {
      const headers: string[] = [];
      res.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
      bodies.push(...headers, await res.text());
      return res;
    };
    const send = async (body: unknown) =>
      keep(
        await fetch(`${gateway.openaiBaseUrl}/chat/completions`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${gateway.server.adminKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    gateway.provider.reply(
      { status: 401, error: { message: `Incorrect API key provided: ${gateway.credential}.` } },
      { status: 400, error: { message: `Your key ${gateway.credential} may not set this parameter.` } },
      { text: 'fine' },
      { text: 'streamed fine' },
    );
    expect((await send({ model: plain, messages })).status).toBe(502);
    const refused = await send({ model: plain, messages });
    expect(refused.status).toBe(400);
    expect((await send({ model: plain, messages })).status).toBe(200);
    expect((await send({ model: plain, messages, stream: true })).status).toBe(200);
    await keep(await fetch(`${gateway.server.url}/api/v1/model-providers`, { headers: { Authorization: `Bearer ${gateway.server.adminKey}` } }));

    expect(bodies.join('\n')).toContain('[redacted]');
    expect(bodies.join('\n')).not.toContain(gateway.credential);
    expect(gateway.server.output()).toContain('"msg":"request"');
    expect(gateway.server.output()).not.toContain(gateway.credential);
    const tables =
      gateway.server.database.kind === 'postgres'
        ? (await gateway.db.raw<{ rows: { name: string }[] }>("select tablename as name from pg_tables where schemaname = 'public'")).rows
        : await gateway.db.raw<{ name: string }[]>("select name from sqlite_master where type = 'table'");
    expect(tables.map((t) => t.name)).toContain('model_providers');
    for (const { name } of tables) expect(JSON.stringify(await gateway.db(name).select('*')), name).not.toContain(gateway.credential);
  });
});
