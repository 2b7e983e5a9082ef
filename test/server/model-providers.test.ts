import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSealer } from '@switchboard/server';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { masterKeyFor, type TestDatabase } from '../support/databases.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { absentId, createApplication, createKey, createModel, createProvider, freshAdmin, type Application, type ModelProvider } from './helpers.js';

/** The providers of this file live in an application of their own, so lists are exact. */
let app: Application;
let adminSecret: string;
let api: ApiClient;
const db = inspectDatabase();

beforeAll(async () => {
  const orgAdmin = await freshAdmin();
  app = await createApplication(orgAdmin, uniqueName('model providers'));
  adminSecret = (await createKey({ scopes: ['admin'], by: orgAdmin, appId: app.id })).secret;
  api = rawClient({ key: adminSecret });
});
afterAll(() => db.destroy());

const PROVIDER_ID = /^prov_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const CREDENTIAL = `sk-proj-${randomUUID().replaceAll('-', '')}`;

const json = (method: string, body: unknown, headers: Record<string, string> = {}) => ({
  method,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...headers },
});
const post = (body: unknown, headers: Record<string, string> = {}) => send('/api/v1/model-providers', { key: adminSecret, ...json('POST', body, headers) });
const patch = (id: string, body: unknown, headers: Record<string, string> = {}) =>
  send(`/api/v1/model-providers/${id}`, { key: adminSecret, ...json('PATCH', body, { 'Content-Type': 'application/merge-patch+json', ...headers }) });
const get = (id: string) => api.GET('/api/v1/model-providers/{modelProviderId}', { params: { path: { modelProviderId: id } } });

/** 422 validation-error naming `pointer`; returns the problem. */
async function expectInvalid(res: Response, pointer: string) {
  expect(res.status, `${pointer}: ${await res.clone().text()}`).toBe(422);
  const problem = await problemOf(res);
  expect(problem.code).toBe('validation-error');
  expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
  return problem;
}

describe('create and read', () => {
  it('creates an OpenAI provider on its public API, and never returns the credential', async () => {
    const name = uniqueName('OpenAI');
    const res = await post({ name, kind: 'openai', credential: CREDENTIAL });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(CREDENTIAL);
    const created = JSON.parse(text) as ModelProvider;
    expect(created).toEqual({
      id: expect.stringMatching(PROVIDER_ID),
      object: 'model_provider',
      name,
      kind: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      hasCredential: true,
      credentialLast4: CREDENTIAL.slice(-4),
      headers: {},
      timeoutSeconds: 60,
      createdAt: expect.any(String),
      updatedAt: created.createdAt,
    });
    expect(res.headers.get('location')).toBe(`/api/v1/model-providers/${created.id}`);

    const read = await get(created.id);
    expect(read.response.status).toBe(200);
    expect(read.data).toEqual(created);
    // The ETag of creation is the resource's own, usable in If-Match.
    expect(read.response.headers.get('etag')).toBe(res.headers.get('etag'));
    expect(JSON.stringify(read.data)).not.toContain(CREDENTIAL);
    const listed = await api.GET('/api/v1/model-providers', { params: { query: { pageSize: 100 } } });
    expect(JSON.stringify(listed.data)).not.toContain(CREDENTIAL);
  });

  it('defaults an anthropic provider to its public API; an openai-compatible one needs a baseUrl', async () => {
    const anthropic = await createProvider(api, { kind: 'anthropic', baseUrl: undefined, credential: 'sk-ant-api03-0123456789abcdef' });
    expect(anthropic).toMatchObject({ kind: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', credentialLast4: 'cdef' });
    const problem = await expectInvalid(await post({ name: uniqueName('compatible'), kind: 'openai-compatible' }), '/baseUrl');
    expect(problem.detail).toContain('needs a baseUrl');
  });

  it('keeps a provider without credential, headers and a timeout as given, and drops a trailing slash of the base URL', async () => {
    const provider = await createProvider(api, {
      baseUrl: 'https://llm.example.com/openai/v1//',
      headers: { 'OpenAI-Organization': 'org-42', 'X-Team': 'support' },
      timeoutSeconds: 120,
    });
    expect(provider).toMatchObject({
      baseUrl: 'https://llm.example.com/openai/v1',
      hasCredential: false,
      credentialLast4: null,
      headers: { 'OpenAI-Organization': 'org-42', 'X-Team': 'support' },
      timeoutSeconds: 120,
    });
  });

  it('shows no last four characters of a short credential, of which they would be a large part', async () => {
    const provider = await createProvider(api, { credential: 'ollama' });
    expect(provider).toMatchObject({ hasCredential: true, credentialLast4: null });
    const eleven = await createProvider(api, { credential: 'abcdefghijk' });
    expect(eleven.credentialLast4).toBeNull();
    const twelve = await createProvider(api, { credential: 'abcdefghijkl' });
    expect(twelve.credentialLast4).toBe('ijkl');
  });

  it('answers 404 for an unknown provider and 422 for a malformed id', async () => {
    const res = await send(`/api/v1/model-providers/${absentId('prov')}`, { key: adminSecret });
    expect(res.status).toBe(404);
    expect((await problemOf(res)).code).toBe('not-found');
    const malformed = await send('/api/v1/model-providers/model_01jd4x7p2kf8q6v3b9m5t0s1ab', { key: adminSecret });
    expect(malformed.status).toBe(422);
  });

  it('needs the write scope to create and the read scope to list', async () => {
    const reader = await createKey({ scopes: ['read'], by: adminSecret });
    const refused = await send('/api/v1/model-providers', { key: reader.secret, ...json('POST', { name: uniqueName('x'), kind: 'openai' }) });
    expect(refused.status).toBe(403);
    expect((await send('/api/v1/model-providers', { key: reader.secret })).status).toBe(200);
  });
});

describe('bad input: 422 naming the field', () => {
  it('refuses what the schema refuses', async () => {
    const name = uniqueName('bad');
    const cases: [unknown, string][] = [
      [{ name, kind: 'mistral' }, '/kind'],
      [{ kind: 'openai' }, '/name'],
      [{ name: '', kind: 'openai' }, '/name'],
      [{ name, kind: 'openai', timeoutSeconds: 0 }, '/timeoutSeconds'],
      [{ name, kind: 'openai', timeoutSeconds: 601 }, '/timeoutSeconds'],
      [{ name, kind: 'openai', timeoutSeconds: 1.5 }, '/timeoutSeconds'],
      [{ name, kind: 'openai', baseUrl: 'ftp://llm.example.com/v1' }, '/baseUrl'],
      [{ name, kind: 'openai', credential: '' }, '/credential'],
      [{ name, kind: 'openai', hasCredential: true }, '/hasCredential'],
      [{ name, kind: 'openai', headers: { 'Bad Header': 'x' } }, '/headers'],
      [{ name, kind: 'openai', headers: { 'X-Line': 'a\nb' } }, '/headers/X-Line'],
    ];
    for (const [body, pointer] of cases) await expectInvalid(await post(body), pointer);
    expect((await api.GET('/api/v1/model-providers', { params: { query: { pageSize: 100 } } })).data!.data.map((p) => p.name)).not.toContain(name);
  });

  it('does not repeat a refused credential in the problem', async () => {
    const secret = `sk-${randomUUID()} with a space`;
    const problem = await expectInvalid(await post({ name: uniqueName('x'), kind: 'openai', credential: secret }), '/credential');
    expect(JSON.stringify(problem)).not.toContain(secret);
    expect(JSON.stringify(problem)).not.toContain('with a space');
  });

  it('refuses a base URL with a user name, password, query or fragment', async () => {
    for (const baseUrl of ['https://user:pass@llm.example.com/v1', 'https://llm.example.com/v1?api-version=1', 'https://llm.example.com/v1#x']) {
      const problem = await expectInvalid(await post({ name: uniqueName('x'), kind: 'openai-compatible', baseUrl }), '/baseUrl');
      expect(JSON.stringify(problem)).not.toContain('pass@');
    }
  });

  it('refuses the headers the gateway sets, in any case, and a name given twice in different cases', async () => {
    for (const header of ['Authorization', 'x-api-key', 'HOST', 'Content-Length', 'content-type', 'Connection', 'Transfer-Encoding', 'Accept-Encoding']) {
      const problem = await expectInvalid(await post({ name: uniqueName('x'), kind: 'openai', headers: { [header]: 'v' } }), `/headers/${header}`);
      expect(problem.detail).toContain('set by the gateway');
    }
    const twice = await expectInvalid(await post({ name: uniqueName('x'), kind: 'openai', headers: { 'X-Team': 'a', 'x-team': 'b' } }), '/headers/x-team');
    expect(twice.detail).toContain('case-insensitive');
  });
});

describe('the address rule', () => {
  /** A server of its own, whose policy this file controls: private addresses refused except one listed. */
  let server: ServerProcess;
  const to = (body: unknown, method = 'POST', path = '/api/v1/model-providers') =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${server.adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  beforeAll(async () => {
    server = await startServerProcess({ MODEL_PROVIDER_ALLOWED_ADDRESSES: '127.0.0.2' });
  }, 60_000);
  afterAll(() => server?.stop());

  it('refuses a base URL on a private, loopback or link-local address (or a name resolving to one), saying how to allow it', async () => {
    for (const baseUrl of [
      'http://127.0.0.1:11434/v1',
      'http://localhost:11434/v1',
      'http://[::1]:8000/v1',
      'http://10.1.2.3/v1',
      'http://192.168.1.20:8080/v1',
      'http://169.254.169.254/latest',
    ]) {
      const problem = await expectInvalid(await to({ name: uniqueName('local'), kind: 'openai-compatible', baseUrl }), '/baseUrl');
      expect(problem.detail, baseUrl).toContain('MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES=true');
      expect(problem.detail).toContain('MODEL_PROVIDER_ALLOWED_ADDRESSES');
    }
  });

  it('accepts a listed address, and applies the rule to a changed base URL too', async () => {
    const res = await to({ name: uniqueName('listed'), kind: 'openai-compatible', baseUrl: 'http://127.0.0.2:11434/v1' });
    expect(res.status).toBe(201);
    const provider = (await res.json()) as ModelProvider;
    await expectInvalid(await to({ baseUrl: 'http://127.0.0.1:11434/v1' }, 'PATCH', `/api/v1/model-providers/${provider.id}`), '/baseUrl');
    const unchanged = await fetch(`${server.url}/api/v1/model-providers/${provider.id}`, { headers: { Authorization: `Bearer ${server.adminKey}` } });
    expect(((await unchanged.json()) as ModelProvider).baseUrl).toBe('http://127.0.0.2:11434/v1');
  });
});

describe('update: a JSON merge patch', () => {
  it('changes the members sent and leaves the others', async () => {
    const provider = await createProvider(api, { credential: CREDENTIAL, headers: { 'X-Team': 'a' }, timeoutSeconds: 30 });
    const res = await patch(provider.id, { name: `${provider.name} renamed`, timeoutSeconds: 90 });
    expect(res.status).toBe(200);
    const updated = (await res.json()) as ModelProvider;
    expect(updated).toEqual({ ...provider, name: `${provider.name} renamed`, timeoutSeconds: 90, updatedAt: expect.any(String) });
    // application/json is accepted as well.
    const plain = await api.PATCH('/api/v1/model-providers/{modelProviderId}', {
      params: { path: { modelProviderId: provider.id } },
      body: { baseUrl: 'https://other.example.com/v1/' },
    });
    expect(plain.response.status).toBe(200);
    expect(plain.data!.baseUrl).toBe('https://other.example.com/v1');
  });

  it('replaces the credential, and removes it with null', async () => {
    const provider = await createProvider(api, { credential: CREDENTIAL });
    const rotated = `sk-proj-${randomUUID().replaceAll('-', '')}`;
    const res = await patch(provider.id, { credential: rotated });
    const text = await res.text();
    expect(text).not.toContain(rotated);
    expect(JSON.parse(text)).toMatchObject({ hasCredential: true, credentialLast4: rotated.slice(-4) });
    const removed = await patch(provider.id, { credential: null });
    expect(await removed.json()).toMatchObject({ hasCredential: false, credentialLast4: null });
    const row = await db('model_providers').where({ id: provider.id }).first();
    expect(row.credential_sealed).toBeNull();
  });

  it('replaces the headers as a whole: members not sent are gone, {} removes every one', async () => {
    const provider = await createProvider(api, { headers: { 'X-A': '1', 'X-B': '2' } });
    const replaced = await patch(provider.id, { headers: { 'X-C': '3' } });
    expect(((await replaced.json()) as ModelProvider).headers).toEqual({ 'X-C': '3' });
    const cleared = await patch(provider.id, { headers: {} });
    expect(((await cleared.json()) as ModelProvider).headers).toEqual({});
    await expectInvalid(await patch(provider.id, { headers: { authorization: 'Bearer x' } }), '/headers/authorization');
  });

  it('refuses an empty patch, a change of kind, nulls for required members and read-only fields', async () => {
    const provider = await createProvider(api);
    for (const body of [
      {},
      { kind: 'openai' },
      { name: null },
      { baseUrl: null },
      { timeoutSeconds: null },
      { headers: null },
      { hasCredential: false },
      { id: absentId('prov') },
    ]) {
      expect((await patch(provider.id, body)).status, JSON.stringify(body)).toBe(422);
    }
    expect((await get(provider.id)).data).toEqual(provider);
  });

  it('honours If-Match: a stale ETag is 412 and changes nothing; the current one passes', async () => {
    const provider = await createProvider(api);
    const first = await get(provider.id);
    const etag = first.response.headers.get('etag')!;
    const changed = await patch(provider.id, { timeoutSeconds: 10 }, { 'If-Match': etag });
    expect(changed.status).toBe(200);
    const newEtag = changed.headers.get('etag')!;
    expect(newEtag).not.toBe(etag);
    const stale = await patch(provider.id, { timeoutSeconds: 20 }, { 'If-Match': etag });
    expect(stale.status).toBe(412);
    expect((await problemOf(stale)).code).toBe('precondition-failed');
    const staleDelete = await send(`/api/v1/model-providers/${provider.id}`, { key: adminSecret, method: 'DELETE', headers: { 'If-Match': etag } });
    expect(staleDelete.status).toBe(412);
    expect((await get(provider.id)).data!.timeoutSeconds).toBe(10);
    const deleted = await send(`/api/v1/model-providers/${provider.id}`, { key: adminSecret, method: 'DELETE', headers: { 'If-Match': newEtag } });
    expect(deleted.status).toBe(204);
  });
});

describe('conflicts', () => {
  it('refuses a name already used in the application, at creation and on rename (409)', async () => {
    const provider = await createProvider(api);
    const again = await post({ name: provider.name, kind: 'anthropic' });
    expect(again.status).toBe(409);
    expect((await problemOf(again)).detail).toContain(provider.name);
    const other = await createProvider(api);
    const rename = await patch(other.id, { name: provider.name });
    expect(rename.status).toBe(409);
    expect((await get(other.id)).data!.name).toBe(other.name);
  });

  it('refuses to delete a provider that aliases use (409 naming them), and deletes it once they are gone', async () => {
    const provider = await createProvider(api);
    const a = await createModel(api, { providerId: provider.id });
    const b = await createModel(api, { providerId: provider.id });
    const res = await send(`/api/v1/model-providers/${provider.id}`, { key: adminSecret, method: 'DELETE' });
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.code).toBe('conflict');
    expect(problem.detail).toContain(`"${a.alias}"`);
    expect(problem.detail).toContain(`"${b.alias}"`);
    for (const m of [a, b]) expect((await send(`/api/v1/models/${m.id}`, { key: adminSecret, method: 'DELETE' })).status).toBe(204);
    expect((await send(`/api/v1/model-providers/${provider.id}`, { key: adminSecret, method: 'DELETE' })).status).toBe(204);
    expect((await get(provider.id)).response.status).toBe(404);
  });
});

describe('idempotent create', () => {
  it('answers a retry with the first response and creates one provider; another body with the same key is 422', async () => {
    const key = randomUUID();
    const body = { name: uniqueName('idempotent'), kind: 'openai', credential: CREDENTIAL };
    const first = await post(body, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const firstText = await first.text();
    const replay = await post(body, { 'Idempotency-Key': key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(firstText);
    const other = await post({ ...body, name: `${body.name} 2` }, { 'Idempotency-Key': key });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe('idempotency-key-reused');
    const list = await api.GET('/api/v1/model-providers', { params: { query: { pageSize: 100 } } });
    expect(list.data!.data.filter((p) => p.name.startsWith(body.name))).toHaveLength(1);
  });
});

describe('list', () => {
  /** A fresh application, so the list holds exactly these. */
  let listApi: ApiClient;
  let made: ModelProvider[];
  beforeAll(async () => {
    const listApp = await createApplication(adminSecret, uniqueName('provider list'));
    listApi = rawClient({ key: (await createKey({ scopes: ['admin'], by: adminSecret, appId: listApp.id })).secret });
    made = [];
    for (const [name, kind] of [
      ['beta', 'openai'],
      ['Alpha', 'anthropic'],
      ['gamma', 'openai-compatible'],
    ] as const) {
      made.push(await createProvider(listApi, { name, kind, ...(kind === 'openai-compatible' ? {} : { baseUrl: undefined }) }));
    }
  });
  const ids = async (query: Record<string, unknown>) => {
    const res = await listApi.GET('/api/v1/model-providers', { params: { query: query as never } });
    expect(res.response.status).toBe(200);
    return res.data!;
  };

  it('lists newest first by default, oldest first with sort=createdAt, by name (case-insensitive) with sort=name', async () => {
    const [beta, alpha, gamma] = made as [ModelProvider, ModelProvider, ModelProvider];
    expect((await ids({})).data.map((p) => p.id)).toEqual([gamma.id, alpha.id, beta.id]);
    expect((await ids({ sort: 'createdAt' })).data.map((p) => p.id)).toEqual([beta.id, alpha.id, gamma.id]);
    expect((await ids({ sort: 'name' })).data.map((p) => p.name)).toEqual(['Alpha', 'beta', 'gamma']);
    expect((await ids({ sort: '-name' })).data.map((p) => p.name)).toEqual(['gamma', 'beta', 'Alpha']);
  });

  it('filters by kind, pages, and answers a page past the end with no data', async () => {
    expect((await ids({ kind: 'anthropic' })).data.map((p) => p.name)).toEqual(['Alpha']);
    expect((await ids({ kind: 'openai-compatible' })).data.map((p) => p.name)).toEqual(['gamma']);
    const page2 = await ids({ sort: 'name', pageSize: 2, page: 2 });
    expect(page2.data.map((p) => p.name)).toEqual(['gamma']);
    expect(page2.pagination).toEqual({ page: 2, pageSize: 2, total: 3, totalPages: 2 });
    const past = await ids({ page: 3, pageSize: 2 });
    expect(past.data).toEqual([]);
    expect(past.pagination.total).toBe(3);
    for (const query of [{ kind: 'mistral' }, { sort: 'kind' }, { pageSize: 101 }, { page: 0 }]) {
      const res = await listApi.GET('/api/v1/model-providers', { params: { query: query as never } });
      expect(res.response.status, JSON.stringify(query)).toBe(422);
    }
  });
});

describe('the credential at rest', () => {
  it('is stored sealed: no table holds it in clear, not even the record that replays a creation', async () => {
    const credential = `sk-at-rest-${randomUUID()}`;
    const res = await post({ name: uniqueName('at rest'), kind: 'openai', credential }, { 'Idempotency-Key': randomUUID() });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as ModelProvider;
    const row = await db('model_providers').where({ id }).first();
    expect(row.credential_sealed).toMatch(/^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+$/);
    for (const table of ['model_providers', 'idempotency_keys', 'webhook_messages', 'models']) {
      const rows = (await db(table).select()) as Record<string, unknown>[];
      expect(
        rows.filter((r) => JSON.stringify(r).includes(credential)),
        table,
      ).toEqual([]);
    }
  });

  it('opens only with the application it was sealed for: copied to another application, it does not', async () => {
    const credential = `sk-sealed-${randomUUID()}`;
    const provider = await createProvider(api, { credential });
    const { credential_sealed: sealed } = await db('model_providers').where({ id: provider.id }).first();
    // The shared server's master key: the one every test server of this database uses.
    const sealer = createSealer(Buffer.from(masterKeyFor({ url: inject('databaseUrl') } as TestDatabase), 'base64'));
    expect(sealer.open(sealed as string, app.id)).toBe(credential);
    const other = await createApplication(adminSecret, uniqueName('elsewhere'));
    expect(() => sealer.open(sealed as string, other.id)).toThrow();
  });
});
