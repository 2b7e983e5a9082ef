import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { absentId, createApplication, createKey, createModel, createProvider, freshAdmin, token, type Model, type ModelProvider } from './helpers.js';

/** The aliases of this file live in an application of their own, so lists are exact. */
let orgAdmin: string;
let appId: string;
let adminSecret: string;
let api: ApiClient;
let openai: ModelProvider;
let anthropic: ModelProvider;

beforeAll(async () => {
  orgAdmin = await freshAdmin();
  const app = await createApplication(orgAdmin, uniqueName('models'));
  appId = app.id;
  adminSecret = (await createKey({ scopes: ['admin'], by: orgAdmin, appId: app.id })).secret;
  api = rawClient({ key: adminSecret });
  openai = await createProvider(api, { kind: 'openai', baseUrl: undefined, credential: 'sk-test-0123456789abcdef' });
  anthropic = await createProvider(api, { kind: 'anthropic', baseUrl: undefined });
});

const MODEL_ID = /^model_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const UNPRICED = { inputMicrosPerMillionTokens: null, outputMicrosPerMillionTokens: null, cachedInputMicrosPerMillionTokens: null, microsPerAudioMinute: null };
const DEFAULT_RETRY = { attempts: 2, onStatus: [429, 500, 502, 503, 504], backoffMs: 500 };

const json = (method: string, body: unknown, headers: Record<string, string> = {}) => ({
  key: adminSecret,
  method,
  body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...headers },
});
const post = (body: unknown, headers: Record<string, string> = {}) => send('/api/v1/models', json('POST', body, headers));
const patch = (id: string, body: unknown, headers: Record<string, string> = {}) =>
  send(`/api/v1/models/${id}`, json('PATCH', body, { 'Content-Type': 'application/merge-patch+json', ...headers }));
const del = (id: string, headers: Record<string, string> = {}) => send(`/api/v1/models/${id}`, { key: adminSecret, method: 'DELETE', headers });
const get = async (id: string) => {
  const res = await api.GET('/api/v1/models/{modelId}', { params: { path: { modelId: id } } });
  expect(res.response.status).toBe(200);
  return res.data!;
};

/** 422 validation-error naming each of `pointers`; returns the problem. */
async function expectInvalid(res: Response, ...pointers: string[]) {
  expect(res.status, await res.clone().text()).toBe(422);
  const problem = await problemOf(res);
  expect(problem.code).toBe('validation-error');
  expect(problem.errors!.map((e) => e.pointer)).toEqual(expect.arrayContaining(pointers));
  return problem;
}

describe('create and read', () => {
  it('creates an alias with the defaults: chat on an OpenAI provider, unpriced, no fallbacks, the default retry', async () => {
    const alias = token();
    const res = await post({ alias, providerId: openai.id, upstreamModel: 'gpt-4.1-mini' });
    expect(res.status).toBe(201);
    const created = (await res.json()) as Model;
    expect(created).toEqual({
      id: expect.stringMatching(MODEL_ID),
      object: 'model',
      alias,
      providerId: openai.id,
      upstreamModel: 'gpt-4.1-mini',
      api: 'chat',
      pricing: UNPRICED,
      contextWindow: null,
      maxOutputTokens: null,
      fallbacks: [],
      retry: DEFAULT_RETRY,
      createdAt: expect.any(String),
      updatedAt: created.createdAt,
    });
    expect(res.headers.get('location')).toBe(`/api/v1/models/${created.id}`);
    const read = await api.GET('/api/v1/models/{modelId}', { params: { path: { modelId: created.id } } });
    expect(read.data).toEqual(created);
    expect(read.response.headers.get('etag')).toBe(res.headers.get('etag'));
  });

  it('defaults to the messages API on an Anthropic provider', async () => {
    expect((await createModel(api, { providerId: anthropic.id, upstreamModel: 'claude-haiku-4-5' })).api).toBe('messages');
  });

  it('keeps prices in integer micro-USD, limits, fallbacks and a partial retry policy completed with the defaults', async () => {
    const backup = await createModel(api, { providerId: openai.id });
    const alias = `support-${token()}`;
    const model = await createModel(api, {
      alias,
      providerId: openai.id,
      upstreamModel: 'gpt-4.1',
      pricing: { inputMicrosPerMillionTokens: 2_000_000, outputMicrosPerMillionTokens: 8_000_000, cachedInputMicrosPerMillionTokens: 500_000 },
      contextWindow: 1_047_576,
      maxOutputTokens: 32_768,
      fallbacks: [backup.alias],
      retry: { attempts: 0 },
    });
    expect(model).toMatchObject({
      alias,
      pricing: {
        inputMicrosPerMillionTokens: 2_000_000,
        outputMicrosPerMillionTokens: 8_000_000,
        cachedInputMicrosPerMillionTokens: 500_000,
        microsPerAudioMinute: null,
      },
      contextWindow: 1_047_576,
      maxOutputTokens: 32_768,
      fallbacks: [backup.alias],
      retry: { ...DEFAULT_RETRY, attempts: 0 },
    });
    const audio = await createModel(api, { providerId: openai.id, upstreamModel: 'whisper-1', api: 'transcription', pricing: { microsPerAudioMinute: 6_000 } });
    expect(audio.pricing).toEqual({ ...UNPRICED, microsPerAudioMinute: 6_000 });
  });

  it('answers 404 for an unknown alias id, and for a provider that does not exist', async () => {
    expect((await send(`/api/v1/models/${absentId('model')}`, { key: adminSecret })).status).toBe(404);
    const res = await post({ alias: token(), providerId: absentId('prov'), upstreamModel: 'x' });
    expect(res.status).toBe(404);
    expect((await problemOf(res)).detail).toContain(absentId('prov'));
  });
});

describe('bad input: 422', () => {
  it('refuses what the schema refuses', async () => {
    const base = { alias: token(), providerId: openai.id, upstreamModel: 'gpt-4.1-mini' };
    const cases: [unknown, string][] = [
      [{ ...base, alias: 'has space' }, '/alias'],
      [{ ...base, alias: '-leading' }, '/alias'],
      [{ ...base, alias: '' }, '/alias'],
      [{ ...base, providerId: 'prov_x' }, '/providerId'],
      [{ ...base, upstreamModel: '' }, '/upstreamModel'],
      [{ ...base, api: 'completions' }, '/api'],
      [{ ...base, pricing: { inputMicrosPerMillionTokens: -1 } }, '/pricing/inputMicrosPerMillionTokens'],
      [{ ...base, pricing: { inputMicrosPerMillionTokens: 1.5 } }, '/pricing/inputMicrosPerMillionTokens'],
      [{ ...base, pricing: { inputUsd: 2 } }, '/pricing/inputUsd'],
      [{ ...base, contextWindow: 0 }, '/contextWindow'],
      [{ ...base, retry: { attempts: 6 } }, '/retry/attempts'],
      [{ ...base, retry: { onStatus: [200] } }, '/retry/onStatus/0'],
      [{ ...base, fallbacks: ['a', 'a'] }, '/fallbacks'],
      [{ ...base, fallbacks: ['a', 'b', 'c', 'd', 'e', 'f'] }, '/fallbacks'],
      [{ ...base, object: 'model' }, '/object'],
    ];
    for (const [body, pointer] of cases) await expectInvalid(await post(body), pointer);
    const list = await api.GET('/api/v1/models', { params: { query: { alias: base.alias } } });
    expect(list.data!.data).toEqual([]);
  });

  it('refuses an API the provider does not speak: messages needs anthropic, the others an OpenAI-style provider', async () => {
    const onOpenai = await expectInvalid(await post({ alias: token(), providerId: openai.id, upstreamModel: 'claude', api: 'messages' }), '/api');
    expect(onOpenai.detail).toContain('needs an anthropic provider');
    for (const api of ['chat', 'embeddings', 'transcription']) {
      const onAnthropic = await expectInvalid(await post({ alias: token(), providerId: anthropic.id, upstreamModel: 'x', api }), '/api');
      expect(onAnthropic.detail).toContain('openai or openai-compatible');
    }
  });

  it('refuses fallbacks that do not exist, serve another API or are the alias itself, naming each', async () => {
    const chat = await createModel(api, { providerId: openai.id });
    const embeddings = await createModel(api, { providerId: openai.id, api: 'embeddings', upstreamModel: 'text-embedding-3-small' });
    const alias = token();
    const missing = token();
    const problem = await expectInvalid(
      await post({ alias, providerId: openai.id, upstreamModel: 'gpt-4.1', fallbacks: [chat.alias, missing, embeddings.alias, alias] }),
      '/fallbacks/1',
      '/fallbacks/2',
      '/fallbacks/3',
    );
    expect(problem.errors!.map((e) => e.pointer)).not.toContain('/fallbacks/0');
    expect(problem.detail).toContain(`No model alias "${missing}"`);
    expect(problem.detail).toContain(`"${embeddings.alias}" serves the embeddings API, not chat`);
    expect(problem.detail).toContain('cannot be its own fallback');
  });
});

describe('update: a JSON merge patch', () => {
  it('merges pricing and retry member by member; null removes a price (unpriced); fallbacks are replaced as a whole', async () => {
    const [f1, f2] = [await createModel(api, { providerId: openai.id }), await createModel(api, { providerId: openai.id })];
    const model = await createModel(api, {
      providerId: openai.id,
      pricing: { inputMicrosPerMillionTokens: 400_000, outputMicrosPerMillionTokens: 1_600_000 },
      retry: { attempts: 3, backoffMs: 100 },
      fallbacks: [f1.alias],
      contextWindow: 1000,
    });
    const res = await patch(model.id, {
      pricing: { inputMicrosPerMillionTokens: 300_000, cachedInputMicrosPerMillionTokens: 75_000 },
      retry: { onStatus: [429] },
      fallbacks: [f2.alias],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      pricing: {
        inputMicrosPerMillionTokens: 300_000,
        outputMicrosPerMillionTokens: 1_600_000,
        cachedInputMicrosPerMillionTokens: 75_000,
        microsPerAudioMinute: null,
      },
      retry: { attempts: 3, backoffMs: 100, onStatus: [429] },
      fallbacks: [f2.alias],
      contextWindow: 1000,
    });
    const unpriced = await patch(model.id, { pricing: { outputMicrosPerMillionTokens: null }, contextWindow: null, fallbacks: [] });
    expect(await unpriced.json()).toMatchObject({
      pricing: { inputMicrosPerMillionTokens: 300_000, outputMicrosPerMillionTokens: null },
      contextWindow: null,
      fallbacks: [],
    });
    // application/json is accepted as well.
    const plain = await api.PATCH('/api/v1/models/{modelId}', { params: { path: { modelId: model.id } }, body: { upstreamModel: 'gpt-4.1' } });
    expect(plain.data).toMatchObject({ upstreamModel: 'gpt-4.1', pricing: { inputMicrosPerMillionTokens: 300_000 } });
  });

  it('checks the result like a creation: a move to a provider that does not speak the API, a bad fallback', async () => {
    const model = await createModel(api, { providerId: openai.id });
    await expectInvalid(await patch(model.id, { providerId: anthropic.id }), '/api');
    await expectInvalid(await patch(model.id, { fallbacks: [model.alias] }), '/fallbacks/0');
    expect((await get(model.id)).providerId).toBe(openai.id);
    const moved = await patch(model.id, { providerId: anthropic.id, api: 'messages', upstreamModel: 'claude-haiku-4-5' });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ providerId: anthropic.id, api: 'messages' });
    expect((await patch(model.id, { providerId: absentId('prov') })).status).toBe(404);
  });

  it('renames an alias', async () => {
    const model = await createModel(api, { providerId: openai.id });
    const alias = token();
    expect(await (await patch(model.id, { alias })).json()).toMatchObject({ alias });
    expect((await api.GET('/api/v1/models', { params: { query: { alias } } })).data!.data.map((m) => m.id)).toEqual([model.id]);
  });

  it('refuses an empty patch and nulls for required members', async () => {
    const model = await createModel(api, { providerId: openai.id });
    for (const body of [
      {},
      { alias: null },
      { providerId: null },
      { upstreamModel: null },
      { api: null },
      { pricing: null },
      { retry: null },
      { fallbacks: null },
    ]) {
      expect((await patch(model.id, body)).status, JSON.stringify(body)).toBe(422);
    }
    expect(await get(model.id)).toEqual(model);
  });

  it('honours If-Match on update and delete', async () => {
    const model = await createModel(api, { providerId: openai.id });
    const etag = (await api.GET('/api/v1/models/{modelId}', { params: { path: { modelId: model.id } } })).response.headers.get('etag')!;
    const changed = await patch(model.id, { upstreamModel: 'gpt-4.1' }, { 'If-Match': etag });
    expect(changed.status).toBe(200);
    const stale = await patch(model.id, { upstreamModel: 'gpt-4o' }, { 'If-Match': etag });
    expect(stale.status).toBe(412);
    expect((await problemOf(stale)).code).toBe('precondition-failed');
    expect((await del(model.id, { 'If-Match': etag })).status).toBe(412);
    expect((await get(model.id)).upstreamModel).toBe('gpt-4.1');
    expect((await del(model.id, { 'If-Match': changed.headers.get('etag')! })).status).toBe(204);
    expect((await send(`/api/v1/models/${model.id}`, { key: adminSecret })).status).toBe(404);
  });
});

describe('conflicts', () => {
  it('refuses an alias already used in the application, at creation and on rename (409)', async () => {
    const model = await createModel(api, { providerId: openai.id });
    const again = await post({ alias: model.alias, providerId: anthropic.id, upstreamModel: 'claude-haiku-4-5' });
    expect(again.status).toBe(409);
    expect((await problemOf(again)).detail).toContain(`"${model.alias}"`);
    const other = await createModel(api, { providerId: openai.id });
    expect((await patch(other.id, { alias: model.alias })).status).toBe(409);
    expect((await get(other.id)).alias).toBe(other.alias);
  });

  it('refuses to delete, rename or change the API of an alias that others name as a fallback (409 naming them)', async () => {
    const backup = await createModel(api, { providerId: openai.id });
    const a = await createModel(api, { providerId: openai.id, fallbacks: [backup.alias] });
    const b = await createModel(api, { providerId: openai.id, fallbacks: [backup.alias] });
    for (const res of [await del(backup.id), await patch(backup.id, { alias: token() }), await patch(backup.id, { api: 'embeddings' })]) {
      expect(res.status).toBe(409);
      const problem = await problemOf(res);
      expect(problem.code).toBe('conflict');
      expect(problem.detail).toContain(`"${a.alias}"`);
      expect(problem.detail).toContain(`"${b.alias}"`);
    }
    expect(await get(backup.id)).toEqual(backup);
    // Other changes to it are fine; once no alias names it, it goes.
    expect((await patch(backup.id, { upstreamModel: 'gpt-4.1' })).status).toBe(200);
    expect((await patch(a.id, { fallbacks: [] })).status).toBe(200);
    expect((await del(b.id)).status).toBe(204);
    expect((await del(backup.id)).status).toBe(204);
  });
});

describe('concurrent changes', () => {
  /** A key of its own: these rounds spend a write budget of their own. */
  let racer: string;
  let racerApi: ApiClient;
  beforeAll(async () => {
    racer = (await createKey({ scopes: ['admin'], by: orgAdmin, appId })).secret;
    racerApi = rawClient({ key: racer });
  });

  it('a provider deleted while an alias is created on it: either the alias exists and the delete is 409, or the create is 404; never a 500', async () => {
    for (let round = 0; round < 8; round++) {
      const provider = await createProvider(racerApi);
      const [created, deleted] = await Promise.all([
        send('/api/v1/models', { ...json('POST', { alias: token(), providerId: provider.id, upstreamModel: 'gpt-4.1-mini' }), key: racer }),
        send(`/api/v1/model-providers/${provider.id}`, { key: racer, method: 'DELETE' }),
      ]);
      expect([created.status, deleted.status], await created.clone().text()).toSatisfy(
        ([c, d]: number[]) => (c === 201 && d === 409) || (c === 404 && d === 204),
      );
    }
  });

  it('an alias deleted while another names it as a fallback: either the fallback exists and the delete is 409, or the create is 422', async () => {
    for (let round = 0; round < 8; round++) {
      const backup = await createModel(racerApi, { providerId: openai.id });
      const [created, deleted] = await Promise.all([
        send('/api/v1/models', {
          ...json('POST', { alias: token(), providerId: openai.id, upstreamModel: 'gpt-4.1-mini', fallbacks: [backup.alias] }),
          key: racer,
        }),
        send(`/api/v1/models/${backup.id}`, { key: racer, method: 'DELETE' }),
      ]);
      expect([created.status, deleted.status], await created.clone().text()).toSatisfy(
        ([c, d]: number[]) => (c === 201 && d === 409) || (c === 422 && d === 204),
      );
    }
  });
});

describe('idempotent create', () => {
  it('answers a retry with the first response and creates one alias', async () => {
    const key = randomUUID();
    const body = { alias: token(), providerId: openai.id, upstreamModel: 'gpt-4.1-mini' };
    const first = await post(body, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const firstText = await first.text();
    const replay = await post(body, { 'Idempotency-Key': key });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(firstText);
    // Without the key, the same body is a second create: the alias is taken.
    expect((await post(body)).status).toBe(409);
    expect((await api.GET('/api/v1/models', { params: { query: { alias: body.alias } } })).data!.pagination.total).toBe(1);
  });
});

describe('list', () => {
  let listApi: ApiClient;
  let provider: ModelProvider;
  let made: Model[];
  beforeAll(async () => {
    const listApp = await createApplication(orgAdmin, uniqueName('model list'));
    listApi = rawClient({ key: (await createKey({ scopes: ['admin'], by: orgAdmin, appId: listApp.id })).secret });
    provider = await createProvider(listApi);
    const claude = await createProvider(listApi, { kind: 'anthropic', baseUrl: undefined });
    made = [
      await createModel(listApi, { alias: 'beta', providerId: provider.id }),
      await createModel(listApi, { alias: 'Alpha', providerId: claude.id }),
      await createModel(listApi, { alias: 'gamma', providerId: provider.id, api: 'embeddings', upstreamModel: 'text-embedding-3-small' }),
    ];
  });
  const list = async (query: Record<string, unknown>) => {
    const res = await listApi.GET('/api/v1/models', { params: { query: query as never } });
    expect(res.response.status, JSON.stringify(res.error)).toBe(200);
    return res.data!;
  };

  it('lists newest first by default, oldest first with sort=createdAt, by alias (case-insensitive) with sort=alias', async () => {
    const [beta, alpha, gamma] = made as [Model, Model, Model];
    expect((await list({})).data.map((m) => m.id)).toEqual([gamma.id, alpha.id, beta.id]);
    expect((await list({ sort: 'createdAt' })).data.map((m) => m.id)).toEqual([beta.id, alpha.id, gamma.id]);
    expect((await list({ sort: 'alias' })).data.map((m) => m.alias)).toEqual(['Alpha', 'beta', 'gamma']);
    expect((await list({ sort: '-alias' })).data.map((m) => m.alias)).toEqual(['gamma', 'beta', 'Alpha']);
  });

  it('filters by api, provider and alias (exactly), and pages', async () => {
    expect((await list({ api: 'messages' })).data.map((m) => m.alias)).toEqual(['Alpha']);
    expect((await list({ api: 'embeddings' })).data.map((m) => m.alias)).toEqual(['gamma']);
    expect((await list({ providerId: provider.id, sort: 'alias' })).data.map((m) => m.alias)).toEqual(['beta', 'gamma']);
    expect((await list({ alias: 'beta' })).data.map((m) => m.alias)).toEqual(['beta']);
    expect((await list({ alias: 'bet' })).data).toEqual([]);
    expect((await list({ providerId: absentId('prov') })).pagination.total).toBe(0);
    const page = await list({ sort: 'alias', pageSize: 2, page: 2 });
    expect(page.data.map((m) => m.alias)).toEqual(['gamma']);
    expect(page.pagination).toEqual({ page: 2, pageSize: 2, total: 3, totalPages: 2 });
    expect((await list({ page: 9 })).data).toEqual([]);
    for (const query of [{ api: 'completions' }, { sort: 'api' }, { providerId: 'prov_1' }, { alias: 'has space' }]) {
      const res = await listApi.GET('/api/v1/models', { params: { query: query as never } });
      expect(res.response.status, JSON.stringify(query)).toBe(422);
    }
  });
});

describe('an application with a catalog', () => {
  it('can be deleted with its providers and aliases', async () => {
    const doomed = await createApplication(orgAdmin, uniqueName('doomed'));
    const doomedApi = rawClient({ key: orgAdmin, headers: { 'X-App-Id': doomed.id } });
    const provider = await createProvider(doomedApi, { credential: 'sk-doomed-0123456789' });
    const backup = await createModel(doomedApi, { providerId: provider.id });
    await createModel(doomedApi, { providerId: provider.id, fallbacks: [backup.alias] });
    const res = await send(`/api/v1/applications/${doomed.id}`, { key: orgAdmin, method: 'DELETE' });
    expect(res.status, await res.clone().text()).toBe(204);
    expect((await send(`/api/v1/model-providers/${provider.id}`, { key: adminSecret })).status).toBe(404);
  });
});
