import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { createAgent, createApplication, createKey, freshAdmin } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

const ETAG = /^"[\x21\x23-\x7e]+"$/;

async function etagOf(path: string) {
  const res = await send(path, { key });
  expect(res.status).toBe(200);
  const etag = res.headers.get('etag');
  expect(etag).toMatch(ETAG);
  return { etag: etag!, body: (await res.json()) as Record<string, unknown> };
}

function patch(path: string, body: unknown, ifMatch?: string) {
  return send(path, {
    key,
    method: 'PATCH',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/merge-patch+json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
  });
}

const del = (path: string, ifMatch?: string) => send(path, { key, method: 'DELETE', headers: ifMatch ? { 'If-Match': ifMatch } : {} });

async function expectPreconditionFailed(res: Response, path: string) {
  expect(res.status).toBe(412);
  const body = await problemOf(res);
  expect(body.code).toBe('precondition-failed');
  expect(body.instance).toBe(path);
  expect(res.headers.get('etag')).toBeNull();
}

describe('agents', () => {
  it('GET returns a stable ETag that changes after an update, and PATCH returns the new one', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    const first = await etagOf(path);
    expect((await etagOf(path)).etag).toBe(first.etag);

    const res = await patch(path, { description: 'changed' }, first.etag);
    expect(res.status).toBe(200);
    const patchedEtag = res.headers.get('etag');
    expect(patchedEtag).toMatch(ETAG);
    expect(patchedEtag).not.toBe(first.etag);
    expect((await etagOf(path)).etag).toBe(patchedEtag);

    // A state change changes it too.
    const paused = await send(`${path}/pause`, { key, method: 'POST' });
    expect(paused.status).toBe(200);
    expect(paused.headers.get('etag')).not.toBe(patchedEtag);
    expect((await etagOf(path)).etag).toBe(paused.headers.get('etag'));
  });

  it('PATCH with a stale If-Match is 412 and changes nothing', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    const stale = (await etagOf(path)).etag;
    expect((await patch(path, { name: uniqueName('first writer') })).status).toBe(200);
    const current = await etagOf(path);

    await expectPreconditionFailed(await patch(path, { name: 'lost update', instructions: 'overwritten' }, stale), path);
    const after = await etagOf(path);
    expect(after).toEqual(current);
    expect(after.body.version).toBe(1);

    // A tag that never existed, and a weak tag (If-Match compares strongly), fail the same way.
    await expectPreconditionFailed(await patch(path, { name: 'x' }, '"nope"'), path);
    await expectPreconditionFailed(await patch(path, { name: 'x' }, `W/${current.etag}`), path);
    expect(await etagOf(path)).toEqual(current);
  });

  it('PATCH with the current ETag, a list containing it, or * succeeds', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    const { etag } = await etagOf(path);
    const res = await patch(path, { description: 'one' }, etag);
    expect(res.status).toBe(200);
    const next = res.headers.get('etag')!;
    const listed = await patch(path, { description: 'two' }, `"stale", ${next}`);
    expect(listed.status).toBe(200);
    const star = await patch(path, { description: 'three' }, '*');
    expect(star.status).toBe(200);
    expect((await etagOf(path)).body.description).toBe('three');
  });

  it('DELETE with a stale If-Match is 412 and deletes nothing; with the current ETag it deletes', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    const stale = (await etagOf(path)).etag;
    expect((await patch(path, { description: 'moved on' })).status).toBe(200);

    await expectPreconditionFailed(await del(path, stale), path);
    const { etag } = await etagOf(path);
    expect((await del(path, etag)).status).toBe(204);
    expect((await send(path, { key })).status).toBe(404);
  });

  it('DELETE with If-Match: * deletes', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    expect((await del(path, '*')).status).toBe(204);
    expect((await send(path, { key })).status).toBe(404);
  });

  it('a request without If-Match is unconditional', async () => {
    const agent = await createAgent(api);
    const path = `/api/v1/agents/${agent.id}`;
    expect((await patch(path, { description: 'a' })).status).toBe(200);
    expect((await patch(path, { description: 'b' })).status).toBe(200);
  });
});

describe('applications and API keys', () => {
  it('honour If-Match on PATCH and DELETE of an application', async () => {
    const app = await createApplication(key);
    const path = `/api/v1/applications/${app.id}`;
    const stale = (await etagOf(path)).etag;
    expect((await patch(path, { description: 'v2' }, stale)).status).toBe(200);
    await expectPreconditionFailed(await patch(path, { name: 'lost' }, stale), path);
    await expectPreconditionFailed(await del(path, stale), path);
    expect((await etagOf(path)).body.name).toBe(app.name);
    expect((await del(path, (await etagOf(path)).etag)).status).toBe(204);
  });

  it('honour If-Match on PATCH of an API key', async () => {
    const apiKey = await createKey({ scopes: ['read'], by: key });
    const path = `/api/v1/api-keys/${apiKey.id}`;
    const stale = (await etagOf(path)).etag;
    expect((await patch(path, { name: 'renamed' }, stale)).status).toBe(200);
    await expectPreconditionFailed(await patch(path, { scopes: ['admin'] }, stale), path);
    expect((await etagOf(path)).body.scopes).toEqual(['read']);
  });
});
