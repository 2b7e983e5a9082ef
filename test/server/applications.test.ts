import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { createAgent, createApplication, createKey, freshAdmin, token, type Application } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

const APP_ID = /^app_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const json = (body: unknown, type = 'application/json') => ({ body: JSON.stringify(body), headers: { 'Content-Type': type } });

describe('applications', () => {
  it('creates, reads, lists, updates and deletes an application', async () => {
    const name = uniqueName('crud app');
    const res = await send('/api/v1/applications', { key, method: 'POST', ...json({ name, description: 'first' }) });
    expect(res.status).toBe(201);
    const app = (await res.json()) as Application;
    expect(app).toEqual({
      id: expect.stringMatching(APP_ID),
      object: 'application',
      name,
      description: 'first',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(res.headers.get('location')).toBe(`/api/v1/applications/${app.id}`);
    expect(res.headers.get('etag')).toBeTruthy();

    const got = await api.GET('/api/v1/applications/{applicationId}', { params: { path: { applicationId: app.id } } });
    expect(got.data).toEqual(app);
    expect(got.response.headers.get('etag')).toBe(res.headers.get('etag'));

    const listed = await api.GET('/api/v1/applications', { params: { query: { q: name } } });
    expect(listed.data!.data).toEqual([app]);
    expect(listed.data!.pagination.total).toBe(1);

    const renamed = await send(`/api/v1/applications/${app.id}`, { key, method: 'PATCH', ...json({ name: `${name} v2` }, 'application/merge-patch+json') });
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ name: `${name} v2`, description: 'first' });
    const cleared = await api.PATCH('/api/v1/applications/{applicationId}', { params: { path: { applicationId: app.id } }, body: { description: null } });
    expect(cleared.data).toMatchObject({ name: `${name} v2`, description: null });

    const del = await send(`/api/v1/applications/${app.id}`, { key, method: 'DELETE' });
    expect(del.status).toBe(204);
    const gone = await send(`/api/v1/applications/${app.id}`, { key });
    expect(gone.status).toBe(404);
    expect((await problemOf(gone)).code).toBe('not-found');
    expect((await api.GET('/api/v1/applications', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
  });

  it('rejects invalid applications with 422', async () => {
    const name = uniqueName('bad app');
    for (const body of [{}, { name: '' }, { name, extra: 1 }, { name: 5 }, { name: 'x'.repeat(201) }]) {
      const res = await send('/api/v1/applications', { key, method: 'POST', ...json(body) });
      expect(res.status, JSON.stringify(body).slice(0, 50)).toBe(422);
      expect((await problemOf(res)).code).toBe('validation-error');
    }
    expect((await api.GET('/api/v1/applications', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
    const app = await createApplication(key);
    for (const body of [{}, { name: null }, { id: 'app_x' }]) {
      const res = await send(`/api/v1/applications/${app.id}`, { key, method: 'PATCH', ...json(body, 'application/merge-patch+json') });
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    expect((await api.GET('/api/v1/applications/{applicationId}', { params: { path: { applicationId: app.id } } })).data).toEqual(app);
  });

  it('lists with q (case-insensitive) and sort', async () => {
    const tok = token();
    const b = await createApplication(key, `Bravo ${tok}`);
    const a = await createApplication(key, `Alpha ${tok}`);
    const c = await createApplication(key, `Charlie ${tok}`);
    const q = tok.toUpperCase();
    const byName = await api.GET('/api/v1/applications', { params: { query: { q, sort: 'name' } } });
    expect(byName.data!.data.map((x) => x.id)).toEqual([a.id, b.id, c.id]);
    const byNameDesc = await api.GET('/api/v1/applications', { params: { query: { q, sort: '-name' } } });
    expect(byNameDesc.data!.data.map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    const paged = await api.GET('/api/v1/applications', { params: { query: { q, sort: 'name', pageSize: 2, page: 2 } } });
    expect(paged.data!.data.map((x) => x.id)).toEqual([c.id]);
    expect(paged.data!.pagination).toEqual({ page: 2, pageSize: 2, total: 3, totalPages: 2 });
  });

  it('refuses to delete the application of the calling key (409) and keeps it working', async () => {
    const app = await createApplication(key);
    const own = await createKey({ scopes: ['admin'], by: key, appId: app.id });
    const res = await send(`/api/v1/applications/${app.id}`, { key: own.secret, method: 'DELETE' });
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.code).toBe('conflict');
    expect((await send(`/api/v1/applications/${app.id}`, { key: own.secret })).status).toBe(200);
    expect((await send('/api/v1/agents?pageSize=1', { key: own.secret })).status).toBe(200);
  });

  it('deletes another application: 204, its keys stop working (401) and its agents are gone', async () => {
    const app = await createApplication(key);
    const appAdmin = await createKey({ scopes: ['admin'], by: key, appId: app.id });
    const appWriter = await createKey({ scopes: ['write'], by: key, appId: app.id });
    const agent = await createAgent(rawClient({ key: appWriter.secret }));
    expect((await send(`/api/v1/agents/${agent.id}`, { key: appWriter.secret })).status).toBe(200);

    const res = await send(`/api/v1/applications/${app.id}`, { key, method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    for (const secret of [appAdmin.secret, appWriter.secret]) {
      const after = await send('/api/v1/agents?pageSize=1', { key: secret });
      expect(after.status).toBe(401);
      expect((await problemOf(after)).code).toBe('unauthorized');
    }
    // Acting in it through X-App-Id is now 404, like any unknown application.
    const through = await send(`/api/v1/agents/${agent.id}`, { key, headers: { 'X-App-Id': app.id } });
    expect(through.status).toBe(404);
    const again = await send(`/api/v1/applications/${app.id}`, { key, method: 'DELETE' });
    expect(again.status).toBe(404);
  });

  it('answers 404 for an unknown application and 422 for a malformed id', async () => {
    expect((await send('/api/v1/applications/app_01jd4x7p2kf8q6v3b9m5t0s1ab', { key })).status).toBe(404);
    expect((await send('/api/v1/applications/not-an-app', { key })).status).toBe(422);
  });
});

describe('organization', () => {
  it("returns the caller's organization", async () => {
    const res = await send('/api/v1/organization', { key });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBeTruthy();
    const org = (await res.json()) as Record<string, string | number>;
    expect(org).toEqual({
      id: expect.stringMatching(/^org_[0-7][0-9a-hjkmnp-tv-z]{25}$/),
      object: 'organization',
      name: expect.any(String),
      apiVersion: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      auditRetentionDays: expect.any(Number),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(`${String(org.apiVersion)}T00:00:00Z`))).toBe(false);
    expect(new Date(`${String(org.apiVersion)}T00:00:00Z`).toISOString().slice(0, 10)).toBe(org.apiVersion);
  });

  it('is the same organization for every key and application of it, any scope', async () => {
    const app = await createApplication(key);
    const reader = await createKey({ scopes: ['read'], by: key, appId: app.id });
    const mine = (await (await send('/api/v1/organization', { key })).json()) as { id: string };
    const theirs = await send('/api/v1/organization', { key: reader.secret });
    expect(theirs.status).toBe(200);
    expect(((await theirs.json()) as { id: string }).id).toBe(mine.id);
  });
});
