import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { extractOperations, loadBundledSpec, systemClock } from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { problemOf } from '../support/client.js';
import { REQUEST_ID } from './helpers.js';

const operations = extractOperations(loadBundledSpec().document);

/** Every operation that ignores unknown query parameters, with a path that names something real, and its answer. */
const SYSTEM_ROUTES: Record<string, { path: string; status: number }> = {
  getRoot: { path: '/', status: 302 },
  getHealth: { path: '/healthz', status: 200 },
  getReadiness: { path: '/readyz', status: 200 },
  getOpenApiJson: { path: '/api/openapi.json', status: 200 },
  getOpenApiYaml: { path: '/api/openapi.yaml', status: 200 },
  getApiDocs: { path: '/api/docs', status: 200 },
  getApiDocsAsset: { path: '/api/docs/swagger-ui.css', status: 200 },
  getProblemType: { path: '/api/problems/not-found', status: 200 },
  listApiVersions: { path: '/api/v1/versions', status: 200 },
  // The shared server serves no metrics (no METRICS_TOKEN): its answer is the 404 problem, whatever the query.
  getMetrics: { path: '/metrics', status: 404 },
};

/**
 * The OAuth callback ignores them too: a provider's redirect may add parameters of its own (`iss`,
 * `session_state`, ...). It needs a live connect session to answer normally (connections.test.ts).
 */
const BROWSER_ROUTES = ['completeOAuthConnection'];

/** Keys of plain objects' prototype: none of them names a documentation asset or a problem type. */
const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

let production: InProcessServer;

beforeAll(async () => {
  production = await startInProcessServer(systemClock, { NODE_ENV: 'production' });
});
afterAll(async () => {
  await production?.stop();
});

const modes = [
  // The shared server runs in test mode: a status the contract does not declare is a 500 there.
  { mode: 'test (strict contract)', base: () => inject('serverUrl'), key: () => inject('adminKey') },
  { mode: 'production', base: () => production.baseUrl, key: () => production.adminKey },
];

describe('the query-parameter rule comes from the spec', () => {
  it('lets exactly the public GET system operations ignore unknown query parameters; every other declares 422 (400 in a provider envelope)', () => {
    const ignoring = operations.filter((o) => o.ignoresUnknownQuery);
    expect(ignoring.map((o) => o.operationId).sort()).toEqual([...Object.keys(SYSTEM_ROUTES), ...BROWSER_ROUTES].sort());
    for (const op of ignoring) {
      expect(op.method, op.operationId).toBe('get');
      expect(op.secured, op.operationId).toBe(false);
    }
    for (const op of operations.filter((o) => !o.ignoresUnknownQuery)) expect(op.declaresValidation, op.operationId).toBe(true);
  });
});

describe.each(modes)('system routes in $mode mode', ({ base, key }) => {
  it.each(Object.entries(SYSTEM_ROUTES))('%s answers normally with a cache buster (?ts=1) and other unknown parameters', async (_id, route) => {
    for (const query of ['?ts=1', '?ts=1&_=1733318400000&cache=no', '?ts']) {
      const res = await fetch(`${base()}${route.path}${query}`, { redirect: 'manual' });
      expect(res.status, `${route.path}${query}`).toBe(route.status);
      expect(res.headers.get('request-id')).toMatch(REQUEST_ID);
      await res.arrayBuffer();
    }
  });

  it('still refuses an unknown query parameter on an API route with its declared 422', async () => {
    const res = await fetch(`${base()}/api/v1/agents?ts=1`, { headers: { Authorization: `Bearer ${key()}` } });
    expect(res.status).toBe(422);
    const body = await problemOf(res);
    expect(body.code).toBe('validation-error');
    expect(body.errors).toEqual([{ parameter: 'ts', in: 'query', detail: 'Unknown query parameter "ts".' }]);
  });

  it.each(INHERITED)('answers a 404 problem, not an inherited property, for the asset and problem type %s', async (name) => {
    for (const path of [`/api/docs/${name}`, `/api/problems/${name}`]) {
      const res = await fetch(`${base()}${path}`);
      // Some names cannot be a problem code (the pattern is lower-case): those are 404 as well.
      expect(res.status, path).toBe(404);
      const body = await problemOf(res);
      expect(body.code).toBe('not-found');
      expect(body.detail).not.toMatch(/node_modules|\/work\/|at [A-Za-z]+ \(/);
    }
  });

  it('redirects / to the API reference', async () => {
    const res = await fetch(`${base()}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/api/docs');
    const followed = await fetch(`${base()}/`);
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(`${base()}/api/docs`);
    expect(followed.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await followed.text()).toContain('swagger-ui');
  });
});
