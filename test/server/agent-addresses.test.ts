import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, expectProblem, newAgent, type Conn } from './run-helpers.js';

/**
 * An http agent's URL, and the URL of each of its http tools, is held to the address rule of
 * webhook endpoints when it is set: a server without RUNNER_ALLOW_PRIVATE_ADDRESSES refuses
 * loopback, private and link-local addresses, and names resolving to them, naming the setting.
 * Nothing here connects to the URLs.
 */
let strict: InProcessServer;
let open: InProcessServer;
let conn: Conn;
let openConn: Conn;

beforeAll(async () => {
  [strict, open] = await Promise.all([startInProcessServer(systemClock), startInProcessServer(systemClock, { RUNNER_ALLOW_PRIVATE_ADDRESSES: 'true' })]);
  conn = { baseUrl: strict.baseUrl, key: strict.adminKey };
  openConn = { baseUrl: open.baseUrl, key: open.adminKey };
});
afterAll(async () => {
  await Promise.all([strict?.stop(), open?.stop()]);
});

const REFUSED = [
  'http://127.0.0.1:9/agent',
  'http://[::1]:9/agent',
  'http://10.0.0.1/agent',
  'http://192.168.1.20/agent',
  'http://169.254.169.254/latest/meta-data/',
  'http://[::ffff:127.0.0.1]/agent',
  'http://0.0.0.0/agent',
  'http://localhost:9/agent',
];

const SETTING = /which this server does not connect to\. Set RUNNER_ALLOW_PRIVATE_ADDRESSES=true to allow it\.$/;

describe('http agent URLs and private addresses', () => {
  it.each(REFUSED)('refuses to create an http agent at %s with 422 naming /url and the setting', async (url) => {
    const reply = await call(conn, 'POST', '/api/v1/agents', { name: 'private', model: 'remote', runtime: 'http', url });
    const problem = expectProblem(reply, 422, 'validation-error');
    expect(problem.errors).toEqual([{ pointer: '/url', in: 'body', detail: problem.detail }]);
    expect(problem.detail).toMatch(SETTING);
    expect((await call(conn, 'GET', '/api/v1/agents?q=private')).body.pagination.total).toBe(0);
  });

  it('says what a name resolves to', async () => {
    const reply = await call(conn, 'POST', '/api/v1/agents', { name: 'by name', model: 'remote', runtime: 'http', url: 'http://localhost:9/agent' });
    expect(expectProblem(reply, 422, 'validation-error').detail).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });

  it('refuses to move an agent to a refused address, and keeps its URL', async () => {
    const agent = await newAgent(conn, { runtime: 'http', url: 'https://agents.example.com/run' });
    for (const url of REFUSED) {
      const problem = expectProblem(await call(conn, 'PATCH', `/api/v1/agents/${agent.id}`, { url }), 422, 'validation-error');
      expect(
        problem.errors!.map((e) => e.pointer),
        url,
      ).toEqual(['/url']);
      expect(problem.detail, url).toMatch(SETTING);
    }
    const runner = await newAgent(conn);
    expectProblem(await call(conn, 'PATCH', `/api/v1/agents/${runner.id}`, { runtime: 'http', url: REFUSED[0] }), 422, 'validation-error');
    expect((await call(conn, 'GET', `/api/v1/agents/${agent.id}`)).body).toMatchObject({ url: 'https://agents.example.com/run', version: 1 });
  });

  it('accepts every one of them when the server allows private addresses', async () => {
    for (const url of REFUSED) {
      const reply = await call(openConn, 'POST', '/api/v1/agents', { name: 'private', model: 'remote', runtime: 'http', url });
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    }
  });
});

describe('http tool URLs and private addresses', () => {
  const tool = (name: string, url: string) => ({ name, url, inputSchema: { type: 'object' } });

  it.each(REFUSED)('refuses an agent with a tool at %s with 422 naming /tools/<i>/url and the setting', async (url) => {
    const reply = await call(conn, 'POST', '/api/v1/agents', {
      name: 'private tool',
      model: 'gpt-4.1',
      tools: [tool('fine', 'https://tools.example.com/a'), tool('inside', url)],
    });
    const problem = expectProblem(reply, 422, 'validation-error');
    expect(problem.errors).toEqual([{ pointer: '/tools/1/url', in: 'body', detail: problem.detail }]);
    expect(problem.detail).toMatch(SETTING);
    expect((await call(conn, 'GET', '/api/v1/agents?q=private%20tool')).body.pagination.total).toBe(0);
  });

  it('names every refused tool at once', async () => {
    const reply = await call(conn, 'POST', '/api/v1/agents', {
      name: 'two private tools',
      model: 'gpt-4.1',
      tools: [tool('a', REFUSED[0]!), tool('b', 'https://tools.example.com/b'), tool('c', REFUSED[2]!)],
    });
    const problem = expectProblem(reply, 422, 'validation-error');
    expect(problem.errors!.map((e) => e.pointer)).toEqual(['/tools/0/url', '/tools/2/url']);
    expect(problem.errors!.every((e) => SETTING.test(e.detail))).toBe(true);
  });

  it('refuses to add a tool at a refused address in an update, and keeps the tools', async () => {
    const agent = await newAgent(conn, { tools: [tool('public', 'https://tools.example.com/a')] });
    for (const url of REFUSED) {
      const problem = expectProblem(
        await call(conn, 'PATCH', `/api/v1/agents/${agent.id}`, { tools: [tool('public', 'https://tools.example.com/a'), tool('new', url)] }),
        422,
        'validation-error',
      );
      expect(
        problem.errors!.map((e) => e.pointer),
        url,
      ).toEqual(['/tools/1/url']);
    }
    expect((await call(conn, 'GET', `/api/v1/agents/${agent.id}`)).body).toMatchObject({ tools: [tool('public', 'https://tools.example.com/a')], version: 1 });
  });

  it('accepts tools at every one of them when the server allows private addresses', async () => {
    const reply = await call(openConn, 'POST', '/api/v1/agents', {
      name: 'private tools',
      model: 'gpt-4.1',
      tools: REFUSED.map((url, i) => tool(`t${String(i)}`, url)),
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.tools).toHaveLength(REFUSED.length);
  });
});
