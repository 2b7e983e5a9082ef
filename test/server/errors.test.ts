import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { absentId, agentsMatching, createAgent, freshAdmin, REQUEST_ID, serverUrl } from './helpers.js';

let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...headers },
});

/** The full RFC 9457 shape, beyond what problemOf checks. */
async function problem(res: Response, status: number, code: string, instance: string) {
  expect(res.status).toBe(status);
  const body = await problemOf(res);
  expect(body.code).toBe(code);
  expect(body.type).toBe(`/api/problems/${code}`);
  expect(body.instance).toBe(instance);
  expect(body.requestId).toMatch(REQUEST_ID);
  expect(typeof body.title).toBe('string');
  expect(body.title.length).toBeGreaterThan(0);
  expect(typeof body.detail).toBe('string');
  expect(body.detail.length).toBeGreaterThan(0);
  return body;
}

describe('unknown routes and methods', () => {
  it('answers an unknown route with a 404 problem, with or without credentials', async () => {
    for (const k of [key, null]) {
      const res = await send('/api/v1/no-such-things', { key: k });
      await problem(res, 404, 'not-found', '/api/v1/no-such-things');
    }
    const nested = await send('/api/v1/agents/agent_01jd4x7p2kf8q6v3b9m5t0s1ab/nope', { key });
    await problem(nested, 404, 'not-found', '/api/v1/agents/agent_01jd4x7p2kf8q6v3b9m5t0s1ab/nope');
  });

  it('answers a wrong method with 405 and an Allow header listing the methods of the route', async () => {
    const collection = await send('/api/v1/agents', { method: 'PUT', key, ...json({}) });
    const body = await problem(collection, 405, 'method-not-allowed', '/api/v1/agents');
    const allowed = collection.headers
      .get('allow')!
      .split(',')
      .map((m) => m.trim());
    expect(allowed).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(allowed).not.toContain('PUT');
    expect(allowed).not.toContain('DELETE');
    expect(body.detail).toContain('PUT');

    const item = await send(`/api/v1/agents/${absentId('agent')}`, { method: 'POST', key, ...json({}) });
    await problem(item, 405, 'method-not-allowed', `/api/v1/agents/${absentId('agent')}`);
    const itemAllowed = item.headers
      .get('allow')!
      .split(',')
      .map((m) => m.trim());
    expect(itemAllowed).toEqual(expect.arrayContaining(['GET', 'PATCH', 'DELETE']));
    expect(itemAllowed).not.toContain('POST');

    const action = await send(`/api/v1/agents/${absentId('agent')}/pause`, { method: 'GET', key });
    await problem(action, 405, 'method-not-allowed', `/api/v1/agents/${absentId('agent')}/pause`);
    expect(
      action.headers
        .get('allow')!
        .split(',')
        .map((m) => m.trim()),
    ).toContain('POST');
  });
});

describe('request bodies', () => {
  it('rejects malformed JSON with 400 invalid-json and creates nothing', async () => {
    const name = uniqueName('badjson');
    const res = await send('/api/v1/agents', { method: 'POST', key, ...json(`{"name": "${name}", "model": "gpt-4.1"`) });
    await problem(res, 400, 'invalid-json', '/api/v1/agents');
    expect((await agentsMatching(api, name)).pagination.total).toBe(0);

    const agent = await createAgent(api);
    const patch = await send(`/api/v1/agents/${agent.id}`, {
      method: 'PATCH',
      key,
      body: '{"name": }',
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    await problem(patch, 400, 'invalid-json', `/api/v1/agents/${agent.id}`);
  });

  it('rejects a Content-Type the operation does not accept with 415 and creates nothing', async () => {
    const name = uniqueName('badtype');
    const text = await send('/api/v1/agents', {
      method: 'POST',
      key,
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'text/plain' },
    });
    await problem(text, 415, 'unsupported-media-type', '/api/v1/agents');

    // A merge patch is only accepted where the operation is a PATCH.
    const merge = await send('/api/v1/agents', {
      method: 'POST',
      key,
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    await problem(merge, 415, 'unsupported-media-type', '/api/v1/agents');

    const latin1 = await send('/api/v1/agents', {
      method: 'POST',
      key,
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json; charset=iso-8859-1' },
    });
    await problem(latin1, 415, 'unsupported-media-type', '/api/v1/agents');
    expect((await agentsMatching(api, name)).pagination.total).toBe(0);

    const agent = await createAgent(api);
    const xml = await send(`/api/v1/agents/${agent.id}`, { method: 'PATCH', key, body: '<name>x</name>', headers: { 'Content-Type': 'application/xml' } });
    await problem(xml, 415, 'unsupported-media-type', `/api/v1/agents/${agent.id}`);
  });

  it('accepts an explicit UTF-8 charset', async () => {
    const res = await send('/api/v1/agents', {
      method: 'POST',
      key,
      body: JSON.stringify({ name: uniqueName('utf8 ✓'), model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect(res.status).toBe(201);
  });

  it('rejects a body over 1 MiB with 413 payload-too-large and creates nothing', async () => {
    const name = uniqueName('huge');
    const body = JSON.stringify({ name, model: 'gpt-4.1', instructions: 'x'.repeat(1_150_000) });
    expect(Buffer.byteLength(body)).toBeGreaterThan(1024 * 1024);
    const res = await send('/api/v1/agents', { method: 'POST', key, ...json(body) });
    await problem(res, 413, 'payload-too-large', '/api/v1/agents');
    expect((await agentsMatching(api, name)).pagination.total).toBe(0);
  });

  it('accepts a body just under the limit', async () => {
    // config is free-form (strings of up to 100,000 characters), so ten long strings in it make a valid body of almost 1 MiB.
    const body = JSON.stringify({ name: uniqueName('big'), model: 'gpt-4.1', config: { blobs: Array.from({ length: 10 }, () => 'y'.repeat(100_000)) } });
    expect(Buffer.byteLength(body)).toBeGreaterThan(1_000_000);
    expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
    const res = await send('/api/v1/agents', { method: 'POST', key, ...json(body) });
    expect(res.status).toBe(201);
  });

  it('rejects a JSON body that is not an object with 422', async () => {
    for (const body of ['null', '[]', '"agent"', '42']) {
      const res = await send('/api/v1/agents', { method: 'POST', key, ...json(body) });
      await problem(res, 422, 'validation-error', '/api/v1/agents');
    }
  });

  it('reports unknown fields, wrong types and missing required fields as 422 with JSON pointers, and creates nothing', async () => {
    const name = uniqueName('invalid');
    const res = await send('/api/v1/agents', { method: 'POST', key, ...json({ name, description: 42, colour: 'blue' }) });
    const body = await problem(res, 422, 'validation-error', '/api/v1/agents');
    const pointers = body.errors!.map((e) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/model', '/description', '/colour']));
    expect(pointers).not.toContain('/name');
    for (const e of body.errors!) expect(e.detail.length).toBeGreaterThan(0);
    expect((await agentsMatching(api, name)).pagination.total).toBe(0);

    const wrongName = await send('/api/v1/agents', { method: 'POST', key, ...json({ name: 7, model: 'gpt-4.1' }) });
    expect((await problem(wrongName, 422, 'validation-error', '/api/v1/agents')).errors!.map((e) => e.pointer)).toEqual(['/name']);
  });

  it('points into nested members', async () => {
    const res = await send('/api/v1/agents', {
      method: 'POST',
      key,
      ...json({
        name: uniqueName('nested'),
        model: 'gpt-4.1',
        limits: { timeoutSeconds: 0 },
        tools: [{ name: 'ok', url: 'https://tools.example.com/ok' }, { name: 'not a valid name!' }],
        config: 'nope',
      }),
    });
    const body = await problem(res, 422, 'validation-error', '/api/v1/agents');
    expect(body.errors!.map((e) => e.pointer)).toEqual(expect.arrayContaining(['/limits/timeoutSeconds', '/tools/1/name', '/config']));
  });

  it('requires a body where the operation requires one', async () => {
    const res = await send('/api/v1/agents', { method: 'POST', key });
    const body = await problem(res, 422, 'validation-error', '/api/v1/agents');
    expect(body.errors!.length).toBeGreaterThan(0);
  });

  it('rejects an empty merge patch and a patch of a read-only field, changing nothing', async () => {
    const agent = await createAgent(api, { description: 'keep me' });
    const before = await send(`/api/v1/agents/${agent.id}`, { key });
    const etag = before.headers.get('etag');

    const empty = await send(`/api/v1/agents/${agent.id}`, { method: 'PATCH', key, ...json({}) });
    await problem(empty, 422, 'validation-error', `/api/v1/agents/${agent.id}`);
    const readOnly = await send(`/api/v1/agents/${agent.id}`, { method: 'PATCH', key, ...json({ name: 'renamed', status: 'retired', version: 9 }) });
    const body = await problem(readOnly, 422, 'validation-error', `/api/v1/agents/${agent.id}`);
    expect(body.errors!.map((e) => e.pointer)).toEqual(expect.arrayContaining(['/status', '/version']));

    const after = await send(`/api/v1/agents/${agent.id}`, { key });
    expect(after.headers.get('etag')).toBe(etag);
    expect(await after.json()).toEqual(await before.json());
  });
});

describe('parameters', () => {
  it('reports an unknown query parameter with errors[].parameter', async () => {
    const res = await send('/api/v1/agents?colour=blue', { key });
    const body = await problem(res, 422, 'validation-error', '/api/v1/agents');
    expect(body.errors).toEqual([expect.objectContaining({ parameter: 'colour' })]);
  });

  it.each([
    ['pageSize=0', 'pageSize'],
    ['pageSize=101', 'pageSize'],
    ['pageSize=ten', 'pageSize'],
    ['page=0', 'page'],
    ['page=-1', 'page'],
    ['sort=colour', 'sort'],
    ['status=sleeping', 'status'],
    ['createdAfter=yesterday', 'createdAfter'],
    ['label=Not%20A%20Label', 'label'],
  ])('rejects %s with 422 naming %s', async (query, parameter) => {
    const res = await send(`/api/v1/agents?${query}`, { key });
    const body = await problem(res, 422, 'validation-error', '/api/v1/agents');
    expect(body.errors!.map((e) => e.parameter)).toContain(parameter);
  });

  it('accepts the boundaries of pageSize', async () => {
    for (const size of [1, 100]) {
      const res = await send(`/api/v1/agents?pageSize=${size}`, { key });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { pagination: { pageSize: number } }).pagination.pageSize).toBe(size);
    }
  });

  it('rejects a malformed path id with 422 and answers a well-formed unknown id with 404', async () => {
    for (const path of ['/api/v1/agents/123', '/api/v1/agents/app_01jd4x7p2kf8q6v3b9m5t0s1ab', '/api/v1/agents/agent_01JD4X7P2KF8Q6V3B9M5T0S1AB']) {
      const res = await send(path, { key });
      const body = await problem(res, 422, 'validation-error', path);
      expect(body.errors!.map((e) => e.parameter)).toContain('agentId');
    }
    const badVersion = await send(`/api/v1/agents/${absentId('agent')}/versions/0`, { key });
    expect((await problem(badVersion, 422, 'validation-error', `/api/v1/agents/${absentId('agent')}/versions/0`)).errors!.map((e) => e.parameter)).toContain(
      'version',
    );

    const absent = await send(`/api/v1/agents/${absentId('agent')}`, { key });
    await problem(absent, 404, 'not-found', `/api/v1/agents/${absentId('agent')}`);
    for (const method of ['PATCH', 'DELETE'] as const) {
      const res = await send(`/api/v1/agents/${absentId('agent')}`, { method, key, ...(method === 'PATCH' ? json({ name: 'x' }) : {}) });
      await problem(res, 404, 'not-found', `/api/v1/agents/${absentId('agent')}`);
    }
  });

  it('rejects a malformed Idempotency-Key and If-Match with 422', async () => {
    const name = uniqueName('badheader');
    const longKey = await send('/api/v1/agents', { method: 'POST', key, ...json({ name, model: 'gpt-4.1' }, { 'Idempotency-Key': 'k'.repeat(256) }) });
    expect((await problem(longKey, 422, 'validation-error', '/api/v1/agents')).errors!.map((e) => e.parameter?.toLowerCase())).toContain('idempotency-key');
    expect((await agentsMatching(api, name)).pagination.total).toBe(0);

    const agent = await createAgent(api);
    const ifMatch = await send(`/api/v1/agents/${agent.id}`, { method: 'PATCH', key, ...json({ name: 'x' }, { 'If-Match': 'not-quoted' }) });
    expect((await problem(ifMatch, 422, 'validation-error', `/api/v1/agents/${agent.id}`)).errors!.map((e) => e.parameter?.toLowerCase())).toContain(
      'if-match',
    );
  });
});

describe('problem type pages', () => {
  it('serves every problem type the API answers with as a 200 HTML page', async () => {
    const codes = [
      'validation-error',
      'not-found',
      'unauthorized',
      'forbidden',
      'method-not-allowed',
      'invalid-json',
      'payload-too-large',
      'unsupported-media-type',
      'precondition-failed',
      'invalid-transition',
      'idempotency-key-reused',
      'idempotency-in-flight',
      'rate-limited',
      'conflict',
      'internal-error',
    ];
    for (const code of codes) {
      const res = await fetch(`${serverUrl()}/api/problems/${code}`);
      expect(res.status, code).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('request-id')).toMatch(REQUEST_ID);
      expect(await res.text()).toContain(code);
    }
  });

  it('resolves the type of a problem actually returned', async () => {
    const res = await send('/api/v1/agents?colour=blue', { key });
    const { type } = await problemOf(res);
    const page = await fetch(new URL(type, serverUrl()));
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/Validation error/);
  });

  it('answers an unknown problem code with a 404 problem', async () => {
    const res = await fetch(`${serverUrl()}/api/problems/no-such-problem`);
    await problem(res, 404, 'not-found', '/api/problems/no-such-problem');
  });

  it('answers a problem code that is not even well-formed with 404, not a server error', async () => {
    const res = await fetch(`${serverUrl()}/api/problems/Not_A_Code`);
    await problem(res, 404, 'not-found', '/api/problems/Not_A_Code');
  });
});
