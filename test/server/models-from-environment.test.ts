import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';
import type { Model, ModelProvider } from './helpers.js';

/**
 * The first start with OPENAI_API_KEY / ANTHROPIC_API_KEY creates a provider per key and a few
 * aliases in the first application; later starts create nothing twice and change nothing a user
 * changed. Each test starts server processes of its own, with those variables set.
 */
const OPENAI_KEY = `sk-proj-env-${randomUUID().replaceAll('-', '')}`;
const ANTHROPIC_KEY = `sk-ant-api03-env-${randomUUID().replaceAll('-', '')}`;

async function call<T>(server: ServerProcess, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { Authorization: `Bearer ${server.adminKey}`, 'Content-Type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  expect(res.status, `${init.method ?? 'GET'} ${path}: ${text}`).toBeLessThan(300);
  return (text ? JSON.parse(text) : undefined) as T;
}
const providersOf = async (server: ServerProcess) => (await call<{ data: ModelProvider[] }>(server, '/api/v1/model-providers?sort=name&pageSize=100')).data;
const aliasesOf = async (server: ServerProcess) =>
  Object.fromEntries((await call<{ data: Model[] }>(server, '/api/v1/models?sort=alias&pageSize=100')).data.map((m) => [m.alias, m]));

const priced = (input: number | null, output: number | null, cached: number | null = null, audio: number | null = null) => ({
  inputMicrosPerMillionTokens: input,
  outputMicrosPerMillionTokens: output,
  cachedInputMicrosPerMillionTokens: cached,
  microsPerAudioMinute: audio,
});
const CREATED_LOG = 'model provider created from the environment';

let provider: TestProvider;
beforeAll(async () => {
  provider = await startTestProvider();
});
afterAll(() => provider?.close());

describe('providers and aliases from the environment', () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await database?.drop();
  });

  const env = { OPENAI_API_KEY: OPENAI_KEY, ANTHROPIC_API_KEY: ANTHROPIC_KEY, LOG_LEVEL: 'info' };

  it('creates OpenAI and Anthropic with their aliases at public list prices, logs it without the keys, and stores the keys sealed', async () => {
    const server = await startServerProcess(env, database);
    servers.push(server);
    const [anthropic, openai] = (await providersOf(server)) as [ModelProvider, ModelProvider];
    expect(openai).toMatchObject({
      name: 'OpenAI',
      kind: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      hasCredential: true,
      credentialLast4: OPENAI_KEY.slice(-4),
    });
    expect(anthropic).toMatchObject({ name: 'Anthropic', kind: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', hasCredential: true });

    const aliases = await aliasesOf(server);
    expect(Object.keys(aliases)).toEqual(['claude-haiku', 'claude-sonnet', 'default', 'gpt-4.1', 'gpt-4.1-mini', 'text-embedding-3-small', 'whisper-1']);
    const shape = (m: Model) => [m.providerId, m.upstreamModel, m.api, m.pricing];
    expect(shape(aliases['gpt-4.1']!)).toEqual([openai.id, 'gpt-4.1', 'chat', priced(2_000_000, 8_000_000, 500_000)]);
    expect(shape(aliases['gpt-4.1-mini']!)).toEqual([openai.id, 'gpt-4.1-mini', 'chat', priced(400_000, 1_600_000, 100_000)]);
    // One default, OpenAI's: Anthropic does not add a second.
    expect(shape(aliases.default!)).toEqual([openai.id, 'gpt-4.1-mini', 'chat', priced(400_000, 1_600_000, 100_000)]);
    expect(shape(aliases['text-embedding-3-small']!)).toEqual([openai.id, 'text-embedding-3-small', 'embeddings', priced(20_000, null)]);
    expect(shape(aliases['whisper-1']!)).toEqual([openai.id, 'whisper-1', 'transcription', priced(null, null, null, 6_000)]);
    expect(shape(aliases['claude-sonnet']!)).toEqual([anthropic.id, 'claude-sonnet-4-5', 'messages', priced(3_000_000, 15_000_000, 300_000)]);
    expect(shape(aliases['claude-haiku']!)).toEqual([anthropic.id, 'claude-haiku-4-5', 'messages', priced(1_000_000, 5_000_000, 100_000)]);
    expect(aliases['gpt-4.1']).toMatchObject({ contextWindow: 1_047_576, maxOutputTokens: 32_768, fallbacks: [] });

    const output = server.output();
    expect(output.split(CREATED_LOG).length - 1).toBe(2);
    expect(output).not.toContain(OPENAI_KEY);
    expect(output).not.toContain(ANTHROPIC_KEY);

    const db = inspectDatabase(database);
    try {
      const rows = (await db('model_providers').select()) as Record<string, unknown>[];
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row.credential_sealed).toMatch(/^v1:/);
      expect(JSON.stringify(rows)).not.toContain(OPENAI_KEY);
      expect(JSON.stringify(rows)).not.toContain(ANTHROPIC_KEY);
    } finally {
      await db.destroy();
    }
  }, 60_000);

  it('creates nothing twice on a restart, and leaves what a user changed as it is', async () => {
    const first = servers.pop()!;
    const before = await providersOf(first);
    const aliases = await aliasesOf(first);
    const openai = before.find((p) => p.name === 'OpenAI')!;
    await call(first, `/api/v1/models/${aliases.default!.id}`, { method: 'PATCH', body: { upstreamModel: 'gpt-4.1' } });
    await call(first, `/api/v1/models/${aliases['whisper-1']!.id}`, { method: 'DELETE' });
    const rotated = `sk-proj-rotated-${randomUUID()}`;
    await call(first, `/api/v1/model-providers/${openai.id}`, { method: 'PATCH', body: { credential: rotated } });
    await first.stop();

    const again = await startServerProcess(env, database);
    servers.push(again);
    const after = await providersOf(again);
    expect(after.map((p) => [p.id, p.name])).toEqual(before.map((p) => [p.id, p.name]));
    expect(after.find((p) => p.name === 'OpenAI')!.credentialLast4).toBe(rotated.slice(-4));
    const now = await aliasesOf(again);
    expect(Object.keys(now)).not.toContain('whisper-1');
    expect(now.default!.upstreamModel).toBe('gpt-4.1');
    expect(Object.keys(now)).toHaveLength(6);
    expect(again.output()).not.toContain(CREATED_LOG);
  }, 60_000);
});

describe('a provider behind OPENAI_BASE_URL', () => {
  it('on a loopback address stops the start with a message naming the variable and how to allow it', async () => {
    const failure = await startServerProcess({ OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: provider.openaiBaseUrl }).then(
      async (s) => {
        await s.stop();
        throw new Error('the server started');
      },
      (err: unknown) => (err as Error).message,
    );
    expect(failure).toContain('server exited with 78');
    expect(failure).toContain(`OPENAI_BASE_URL: 127.0.0.1 is a loopback address`);
    expect(failure).toContain('MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES=true');
    expect(failure).toContain('MODEL_PROVIDER_ALLOWED_ADDRESSES');
    expect(failure).not.toContain(OPENAI_KEY);
  }, 60_000);

  it('once allowed, is an openai-compatible provider whose aliases are unpriced, with SWITCHBOARD_DEFAULT_MODEL as default', async () => {
    const server = await startServerProcess({
      OPENAI_API_KEY: 'ollama',
      OPENAI_BASE_URL: `${provider.openaiBaseUrl}/`,
      MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
      SWITCHBOARD_DEFAULT_MODEL: 'llama3.2',
    });
    try {
      const [openai] = await providersOf(server);
      // A key this short shows no last four characters.
      expect(openai).toMatchObject({ name: 'OpenAI', kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl, hasCredential: true, credentialLast4: null });
      const aliases = await aliasesOf(server);
      expect(Object.keys(aliases)).toEqual(['default', 'gpt-4.1', 'gpt-4.1-mini', 'text-embedding-3-small', 'whisper-1']);
      for (const model of Object.values(aliases)) expect(model.pricing, model.alias).toEqual(priced(null, null));
      expect(aliases.default).toMatchObject({ upstreamModel: 'llama3.2', api: 'chat', contextWindow: null });
      // Nothing is called at start.
      expect(provider.requests).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('or on a listed address, likewise', async () => {
    const server = await startServerProcess({
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: provider.openaiBaseUrl,
      MODEL_PROVIDER_ALLOWED_ADDRESSES: '127.0.0.1',
    });
    try {
      expect((await providersOf(server)).map((p) => p.baseUrl)).toEqual([provider.openaiBaseUrl]);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('Anthropic alone', () => {
  it('makes the default alias, on Claude Haiku', async () => {
    const server = await startServerProcess({ ANTHROPIC_API_KEY: ANTHROPIC_KEY });
    try {
      const aliases = await aliasesOf(server);
      expect(Object.keys(aliases)).toEqual(['claude-haiku', 'claude-sonnet', 'default']);
      expect(aliases.default).toMatchObject({ upstreamModel: 'claude-haiku-4-5', api: 'messages', pricing: priced(1_000_000, 5_000_000, 100_000) });
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('variables that make no provider', () => {
  it('stop the start: a base URL or default model without a key', async () => {
    for (const [env, named] of [
      [{ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }, 'OPENAI_BASE_URL: only used with OPENAI_API_KEY'],
      [{ SWITCHBOARD_DEFAULT_MODEL: 'llama3.2' }, 'SWITCHBOARD_DEFAULT_MODEL: only used with OPENAI_API_KEY or ANTHROPIC_API_KEY'],
      [{ OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: 'http://user:pass@127.0.0.1/v1' }, 'OPENAI_BASE_URL: must be an http:// or https:// URL'],
      [{ OPENAI_API_KEY: 'has a space' }, 'OPENAI_API_KEY: must be printable ASCII'],
    ] as [Record<string, string>, string][]) {
      const failure = await startServerProcess(env).then(
        async (s) => {
          await s.stop();
          return 'started';
        },
        (err: unknown) => (err as Error).message,
      );
      expect(failure).toContain('server exited with 78');
      expect(failure).toContain(named);
      expect(failure).not.toContain('has a space');
    }
  }, 120_000);
});

const onReplicas = onPostgres ? describe : describe.skip;

onReplicas('replicas starting together (PostgreSQL; skipped without DATABASE_URL=postgres://...)', () => {
  it('create one provider and one set of aliases between them', async () => {
    const database = await createTestDatabase();
    const servers: ServerProcess[] = [];
    try {
      // The first migrates and bootstraps alone, without the variables; then three start at once with them.
      servers.push(await startServerProcess({}, database));
      const env = { OPENAI_API_KEY: OPENAI_KEY, LOG_LEVEL: 'info' };
      servers.push(...(await Promise.all([1, 2, 3].map(() => startServerProcess(env, database)))));
      const providers = await providersOf(servers[0]!);
      expect(providers.map((p) => p.name)).toEqual(['OpenAI']);
      expect(Object.keys(await aliasesOf(servers[0]!))).toEqual(['default', 'gpt-4.1', 'gpt-4.1-mini', 'text-embedding-3-small', 'whisper-1']);
      expect(servers.map((s) => s.output().split(CREATED_LOG).length - 1).reduce((a, b) => a + b)).toBe(1);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await database.drop();
    }
  }, 120_000);
});
