import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { createAgent, freshAdmin, type Agent } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

const AGENT_ID = /^agent_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const get = (id: string) => api.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: id } } });
const tool = (name: string) => ({ name, url: `https://tools.example.com/${name}` });

async function patch(id: string, body: unknown, contentType = 'application/merge-patch+json', headers: Record<string, string> = {}) {
  const res = await send(`/api/v1/agents/${id}`, { key, method: 'PATCH', body: JSON.stringify(body), headers: { 'Content-Type': contentType, ...headers } });
  return { res, body: res.headers.get('content-type')?.startsWith('application/json') ? ((await res.json()) as Agent) : undefined };
}

async function action(id: string, name: 'pause' | 'resume' | 'retire') {
  return send(`/api/v1/agents/${id}/${name}`, { key, method: 'POST' });
}

async function expectInvalidTransition(res: Response, currentState: string) {
  expect(res.status).toBe(409);
  const body = await problemOf(res);
  expect(body.code).toBe('invalid-transition');
  expect(body.detail).toContain(currentState);
}

describe('create and read', () => {
  it('creates an agent with defaults, Location and ETag', async () => {
    const name = uniqueName('defaults');
    const res = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const agent = (await res.json()) as Agent;
    expect(agent).toEqual({
      id: expect.stringMatching(AGENT_ID),
      object: 'agent',
      name,
      description: null,
      instructions: '',
      model: 'gpt-4.1',
      tools: [],
      secrets: [],
      connections: [],
      config: {},
      inputSchema: null,
      runtime: 'runner',
      url: null,
      labels: [],
      limits: { timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: null },
      autoStart: { assigned: false, mentioned: false },
      status: 'active',
      version: 1,
      stableVersion: null,
      installationId: null,
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: expect.stringMatching(ISO_MS),
    });
    expect(agent.updatedAt).toBe(agent.createdAt);
    expect(res.headers.get('location')).toBe(`/api/v1/agents/${agent.id}`);
    expect(res.headers.get('etag')).toMatch(/^"[\x21\x23-\x7e]+"$/);
    expect(res.headers.get('idempotent-replayed')).toBeNull();

    const fetched = await send(res.headers.get('location')!, { key });
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(agent);
    expect(fetched.headers.get('etag')).toBe(res.headers.get('etag'));
  });

  it('stores every field it is given', async () => {
    const body = {
      name: uniqueName('full'),
      description: 'Does everything',
      instructions: 'Be brief.',
      model: 'claude-sonnet-4',
      tools: [
        {
          name: 'lookup',
          description: 'Look things up',
          inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
          kind: 'http' as const,
          url: 'https://tools.example.com/lookup',
          timeoutSeconds: 20,
        },
      ],
      config: { temperature: 0.2, nested: { a: [1, 2] } },
      labels: ['support', 'region:eu'],
      limits: { timeoutSeconds: 30, maxConcurrentRuns: 5 },
    };
    const agent = await createAgent(api, body);
    expect(agent).toMatchObject({ ...body, limits: { timeoutSeconds: 30, maxAttempts: 3, maxConcurrentRuns: 5 }, runtime: 'runner', url: null, version: 1 });
    expect((await get(agent.id)).data).toEqual(agent);
  });

  it('requires a url for runtime http, and accepts one', async () => {
    const name = uniqueName('http no url');
    const res = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1', runtime: 'http' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.code).toBe('validation-error');
    expect(problem.errors!.map((e) => e.pointer)).toContain('/url');
    expect((await api.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);

    const ok = await createAgent(api, { runtime: 'http', url: 'https://agents.example.com/run' });
    expect(ok.runtime).toBe('http');
    expect(ok.url).toBe('https://agents.example.com/run');

    const notAUrl = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1', runtime: 'http', url: 'not a url' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(notAUrl.status).toBe(422);
  });

  it('requires a url for each http tool (the kind when none is given), naming each one missing, in create and update', async () => {
    const name = uniqueName('tool no url');
    const res = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1', tools: [{ name: 'a' }, tool('b'), { name: 'c', kind: 'http' }] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.errors).toEqual([
      { pointer: '/tools/0/url', in: 'body', detail: 'The http tool "a" needs a url.' },
      { pointer: '/tools/2/url', in: 'body', detail: 'The http tool "c" needs a url.' },
    ]);
    expect((await api.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);

    const agent = await createAgent(api, { tools: [tool('a')] });
    const { res: refused } = await patch(agent.id, { tools: [tool('a'), { name: 'b' }] });
    expect(refused.status).toBe(422);
    expect((await problemOf(refused)).errors!.map((e) => e.pointer)).toEqual(['/tools/1/url']);
    expect((await get(agent.id)).data).toMatchObject({ tools: [tool('a')], version: 1 });

    const notHttp = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1', tools: [{ name: 'a', url: 'ftp://tools.example.com/a' }] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(notHttp.status).toBe(422);
    expect((await problemOf(notHttp)).errors!.map((e) => e.pointer)).toEqual(['/tools/0/url']);
  });

  it('takes the built-in request_approval with its approval settings, and names what a built-in or an http tool may not carry', async () => {
    const approval = {
      assignees: [{ type: 'role' as const, role: 'admin' as const }],
      expiresInSeconds: 600,
      onExpire: 'fail_run' as const,
      payloadSchema: { type: 'object' },
    };
    const agent = await createAgent(api, { tools: [{ kind: 'builtin', name: 'request_approval', approval }, tool('refund')] });
    expect(agent.tools).toEqual([{ kind: 'builtin', name: 'request_approval', approval }, tool('refund')]);
    const res = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({
        name: uniqueName('bad builtins'),
        model: 'gpt-4.1',
        tools: [
          { kind: 'builtin', name: 'send_email' },
          { kind: 'builtin', name: 'request_approval', url: 'https://tools.example.com/a', inputSchema: { type: 'object' } },
          { ...tool('b'), approval: { expiresInSeconds: 600 } },
        ],
      }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).errors!.map((e) => e.pointer)).toEqual(['/tools/0/name', '/tools/1/url', '/tools/1/inputSchema', '/tools/2/approval']);
  });

  it('does not allow a url with runtime runner (422)', async () => {
    const name = uniqueName('runner with url');
    const res = await send('/api/v1/agents', {
      key,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1', runtime: 'runner', url: 'https://agents.example.com/run' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.errors!.map((e) => e.pointer)).toContain('/url');
    expect((await api.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
  });

  it('rejects duplicate labels and out-of-range limits', async () => {
    for (const body of [{ labels: ['a', 'a'] }, { limits: { maxAttempts: 11 } }, { limits: { maxConcurrentRuns: 0 } }, { model: '' }, { name: '' }]) {
      const res = await send('/api/v1/agents', {
        key,
        method: 'POST',
        body: JSON.stringify({ name: uniqueName('bad'), model: 'gpt-4.1', ...body }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
  });
});

describe('PATCH (JSON merge patch)', () => {
  it.each(['application/merge-patch+json', 'application/json'])('accepts %s', async (type) => {
    const agent = await createAgent(api, { description: 'before' });
    const newName = uniqueName('renamed');
    const { res, body } = await patch(agent.id, { name: newName }, type);
    expect(res.status).toBe(200);
    expect(body!.name).toBe(newName);
    expect(body!.description).toBe('before');
    expect(body!.updatedAt >= agent.updatedAt).toBe(true);
    expect((await get(agent.id)).data!.name).toBe(newName);
  });

  it('null removes nullable fields; absent members are left alone', async () => {
    const agent = await createAgent(api, { description: 'to be removed', instructions: 'keep', limits: { maxConcurrentRuns: 4 } });
    const { res, body } = await patch(agent.id, { description: null, limits: { maxConcurrentRuns: null } });
    expect(res.status).toBe(200);
    expect(body!.description).toBeNull();
    expect(body!.limits).toEqual({ timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: null });
    expect(body!.instructions).toBe('keep');
    expect(body!.name).toBe(agent.name);
  });

  it('merges nested config members; null deletes a member', async () => {
    const agent = await createAgent(api, { config: { temperature: 0.2, keep: 'yes', nested: { x: 1, y: 2 } } });
    const { res, body } = await patch(agent.id, { config: { temperature: null, added: true, nested: { y: null, z: 3 } } });
    expect(res.status).toBe(200);
    expect(body!.config).toEqual({ keep: 'yes', added: true, nested: { x: 1, z: 3 } });
    expect((await get(agent.id)).data!.config).toEqual({ keep: 'yes', added: true, nested: { x: 1, z: 3 } });
  });

  it('replaces arrays as a whole', async () => {
    const agent = await createAgent(api, { labels: ['a', 'b'], tools: [tool('t1'), tool('t2')] });
    const { body } = await patch(agent.id, { labels: ['c'], tools: [tool('t3')] });
    expect(body!.labels).toEqual(['c']);
    expect(body!.tools).toEqual([tool('t3')]);
  });

  it('rejects a non-nullable field set to null, changing nothing', async () => {
    const agent = await createAgent(api);
    for (const body of [{ name: null }, { model: null }, { limits: { timeoutSeconds: null } }]) {
      const { res } = await patch(agent.id, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    expect((await get(agent.id)).data).toEqual(agent);
  });

  it('checks cross-field rules against the merged result, and a rejected patch changes nothing', async () => {
    const agent = await createAgent(api);
    const { res } = await patch(agent.id, { runtime: 'http', name: 'should not stick' });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).errors!.map((e) => e.pointer)).toContain('/url');
    expect((await get(agent.id)).data).toEqual(agent);

    const { res: ok, body } = await patch(agent.id, { runtime: 'http', url: 'https://agents.example.com/x' });
    expect(ok.status).toBe(200);
    expect(body!.runtime).toBe('http');
    const { res: clearUrl } = await patch(agent.id, { url: null });
    expect(clearUrl.status).toBe(422);
    const { res: back, body: backBody } = await patch(agent.id, { runtime: 'runner', url: null });
    expect(back.status).toBe(200);
    expect(backBody!.url).toBeNull();
  });
});

describe('versions', () => {
  it('a change to instructions, model, tools or config makes a new version; name, labels and limits do not', async () => {
    const agent = await createAgent(api, { instructions: 'v1' });
    let expected = 1;
    for (const change of [{ instructions: 'v2' }, { model: 'gpt-4.1-mini' }, { tools: [tool('search')] }, { config: { temperature: 1 } }]) {
      const { body } = await patch(agent.id, change);
      expected += 1;
      expect(body!.version, JSON.stringify(change)).toBe(expected);
    }
    for (const change of [
      { name: uniqueName('same version') },
      { labels: ['x'] },
      { description: 'd' },
      { limits: { timeoutSeconds: 10 } },
      { instructions: 'v2' },
    ]) {
      const { body } = await patch(agent.id, change);
      expect(body!.version, JSON.stringify(change)).toBe(5);
    }

    const versions = await api.GET('/api/v1/agents/{agentId}/versions', { params: { path: { agentId: agent.id } } });
    expect(versions.response.status).toBe(200);
    expect(versions.data!.data.map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    expect(versions.data!.pagination).toEqual({ page: 1, pageSize: 20, total: 5, totalPages: 1 });

    const v1 = await api.GET('/api/v1/agents/{agentId}/versions/{version}', { params: { path: { agentId: agent.id, version: 1 } } });
    expect(v1.data).toEqual({
      object: 'agent_version',
      agentId: agent.id,
      version: 1,
      instructions: 'v1',
      model: 'gpt-4.1',
      tools: [],
      secrets: [],
      connections: [],
      config: {},
      inputSchema: null,
      createdAt: agent.createdAt,
    });
    const v2 = await api.GET('/api/v1/agents/{agentId}/versions/{version}', { params: { path: { agentId: agent.id, version: 2 } } });
    expect(v2.data).toMatchObject({ version: 2, instructions: 'v2', model: 'gpt-4.1' });
    const v5 = await api.GET('/api/v1/agents/{agentId}/versions/{version}', { params: { path: { agentId: agent.id, version: 5 } } });
    expect(v5.data).toMatchObject({ version: 5, instructions: 'v2', model: 'gpt-4.1-mini', tools: [tool('search')], config: { temperature: 1 } });

    const missing = await send(`/api/v1/agents/${agent.id}/versions/6`, { key });
    expect(missing.status).toBe(404);
    expect((await problemOf(missing)).code).toBe('not-found');

    const paged = await api.GET('/api/v1/agents/{agentId}/versions', { params: { path: { agentId: agent.id }, query: { pageSize: 2, page: 3 } } });
    expect(paged.data!.data.map((v) => v.version)).toEqual([1]);
    expect(paged.data!.pagination).toEqual({ page: 3, pageSize: 2, total: 5, totalPages: 3 });
  });
});

describe('status transitions', () => {
  it('allows active→paused→active→retired and paused→retired', async () => {
    const a = await createAgent(api);
    const paused = await action(a.id, 'pause');
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as Agent).status).toBe('paused');
    expect(paused.headers.get('etag')).toBeTruthy();
    const resumed = await action(a.id, 'resume');
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as Agent).status).toBe('active');
    const retired = await action(a.id, 'retire');
    expect(retired.status).toBe(200);
    expect(((await retired.json()) as Agent).status).toBe('retired');
    expect((await get(a.id)).data!.status).toBe('retired');

    const b = await createAgent(api);
    expect((await action(b.id, 'pause')).status).toBe(200);
    const retiredFromPaused = await action(b.id, 'retire');
    expect(retiredFromPaused.status).toBe(200);
    expect(((await retiredFromPaused.json()) as Agent).status).toBe('retired');
  });

  it('a transition does not make a new version', async () => {
    const a = await createAgent(api);
    expect((await action(a.id, 'pause')).status).toBe(200);
    expect((await get(a.id)).data!.version).toBe(1);
  });

  it('answers every forbidden transition with 409 invalid-transition naming the current state', async () => {
    const active = await createAgent(api);
    await expectInvalidTransition(await action(active.id, 'resume'), 'active');
    expect((await get(active.id)).data!.status).toBe('active');

    const paused = await createAgent(api);
    expect((await action(paused.id, 'pause')).status).toBe(200);
    await expectInvalidTransition(await action(paused.id, 'pause'), 'paused');
    expect((await get(paused.id)).data!.status).toBe('paused');

    const retired = await createAgent(api);
    expect((await action(retired.id, 'retire')).status).toBe(200);
    for (const name of ['pause', 'resume', 'retire'] as const) await expectInvalidTransition(await action(retired.id, name), 'retired');
    expect((await get(retired.id)).data!.status).toBe('retired');
  });

  it('a retired agent cannot be changed (409) but can be deleted', async () => {
    const a = await createAgent(api, { name: uniqueName('retiree') });
    expect((await action(a.id, 'retire')).status).toBe(200);
    const before = (await get(a.id)).data!;
    const { res } = await patch(a.id, { name: 'revived' });
    await expectInvalidTransition(res, 'retired');
    expect((await get(a.id)).data).toEqual(before);
    const del = await send(`/api/v1/agents/${a.id}`, { key, method: 'DELETE' });
    expect(del.status).toBe(204);
  });
});

describe('delete', () => {
  it('answers 204 with no body, then 404 everywhere', async () => {
    const a = await createAgent(api, { name: uniqueName('doomed') });
    const del = await send(`/api/v1/agents/${a.id}`, { key, method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect(del.headers.get('etag')).toBeNull();

    for (const path of [`/api/v1/agents/${a.id}`, `/api/v1/agents/${a.id}/versions`, `/api/v1/agents/${a.id}/versions/1`]) {
      const res = await send(path, { key });
      expect(res.status, path).toBe(404);
      expect((await problemOf(res)).code).toBe('not-found');
    }
    const again = await send(`/api/v1/agents/${a.id}`, { key, method: 'DELETE' });
    expect(again.status).toBe(404);
    expect((await api.GET('/api/v1/agents', { params: { query: { q: a.name } } })).data!.pagination.total).toBe(0);
  });
});
