import { beforeAll, describe, expect, it } from 'vitest';
import { compileValidators, extractOperations, loadBundledSpec } from '@switchboard/server';
import { resolveRef } from '../../server/src/spec/operations.js';
import { resolvePointer } from '../../server/src/util/json-pointer.js';
import { rawClient, send } from '../support/client.js';
import { createAgent, freshAdmin, serverUrl } from './helpers.js';

// The checks the server runs in strict mode, compiled from the very spec it serves.
const { document } = loadBundledSpec();
const operations = extractOperations(document);
const validators = compileValidators(document, operations);
const check = (operationId: string, status: number, headers: Record<string, string>) => validators.get(operationId)!.headers(status, headers);

/** The headers of a response as Node would hand them to the check: lower-case names. */
const headersOf = (res: Response) => {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => (headers[name] = value));
  return headers;
};

const REQUEST_ID = 'req_01jd4z0a3c6e9g2j5m8p1r4t7v';
const READ_LIMITS = { ratelimit: '"read";r=599;t=60', 'ratelimit-policy': '"read";q=600;w=60' };

/** Every header a response requires, with its example value: what a complete response carries, whichever standard headers the bundle adds. */
const requiredHeaders = (operationId: string, status: number): Record<string, string> => {
  const op = operations.find((o) => o.operationId === operationId)!;
  const at = `${op.pointer}/responses/${String(status)}`;
  const response = resolveRef(document, resolvePointer(document, at).value, at).value as { headers?: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(response.headers ?? {})
      .map(([name, header]) => [name.toLowerCase(), resolveRef(document, header, at).value as { required?: boolean; example?: unknown }] as const)
      .filter(([, header]) => header.required)
      .map(([name, header]) => [name, String(header.example)]),
  );
};

describe('the standard headers, added by the bundling step, are in every response of the spec', () => {
  it('Request-Id is required on every status of every operation', () => {
    for (const op of operations) {
      for (const status of Object.keys(op.responses)) {
        expect(check(op.operationId, Number(status), {}), `${op.operationId} ${status}`).toContain('required header Request-Id is missing');
      }
    }
  });

  it('RateLimit and RateLimit-Policy are required wherever a rate-limited operation always sends them, and only there', () => {
    for (const op of operations) {
      for (const status of Object.keys(op.responses)) {
        const problems = check(op.operationId, Number(status), { 'request-id': REQUEST_ID });
        const always = op.rateCategory !== undefined && status !== '500';
        expect(problems.includes('required header RateLimit is missing'), `${op.operationId} ${status}`).toBe(always);
        expect(problems.includes('required header RateLimit-Policy is missing'), `${op.operationId} ${status}`).toBe(always);
      }
    }
  });

  it('Retry-After is required on every 429', () => {
    const limited = operations.filter((op) => op.responses['429']);
    expect(limited.length).toBeGreaterThan(50);
    for (const op of limited) {
      const { 'retry-after': _retryAfter, ...others } = requiredHeaders(op.operationId, 429);
      expect(check(op.operationId, 429, others)).toEqual(['required header Retry-After is missing']);
    }
  });
});

describe('the response-header check', () => {
  it('passes the headers the contract states and ignores the transport ones', () => {
    const headers = {
      ...requiredHeaders('getAgent', 200),
      etag: '"9c2f4e1a7b3d5c8e"',
      'content-type': 'application/json',
      'content-length': '12',
      vary: 'Origin',
      'access-control-allow-origin': '*',
    };
    expect(check('getAgent', 200, headers)).toEqual([]);
  });

  it('refuses a value its schema does not allow, a number included', () => {
    expect(check('getAgent', 200, { ...requiredHeaders('getAgent', 200), 'request-id': 'not-a-request-id' })).toEqual([
      expect.stringMatching(/^header Request-Id "not-a-request-id" must match pattern/),
    ]);
    const base = requiredHeaders('getAgent', 429);
    expect(check('getAgent', 429, { ...base, 'retry-after': '42' })).toEqual([]);
    expect(check('getAgent', 429, { ...base, 'retry-after': 'soon' })).toEqual([expect.stringMatching(/^header Retry-After "soon" must be integer/)]);
  });

  it('refuses a header the response does not declare', () => {
    const health = requiredHeaders('getHealth', 200);
    expect(check('getHealth', 200, { ...health, 'x-accel-buffering': 'no' })).toEqual(['header x-accel-buffering is not declared']);
    // A system operation is not rate limited: its responses carry no RateLimit header.
    expect(check('getHealth', 200, { ...health, ...READ_LIMITS })).toEqual(['header ratelimit is not declared', 'header ratelimit-policy is not declared']);
  });
});

describe('what the server sends matches what the spec states', () => {
  let key: string;
  beforeAll(async () => {
    key = await freshAdmin();
  });

  it('on successes, problems before and after authentication, and system routes', async () => {
    const agent = await createAgent(rawClient({ key }));
    const cases: [string, Response][] = [
      ['getHealth', await fetch(`${serverUrl()}/healthz`)],
      ['getOpenApiJson', await fetch(`${serverUrl()}/api/openapi.json`)],
      ['getApiDocsAsset', await fetch(`${serverUrl()}/api/docs/swagger-ui-missing.css`)],
      ['listAgents', await send('/api/v1/agents?pageSize=1', { key })],
      ['getAgent', await send(`/api/v1/agents/${agent.id}`, { key })],
      ['listAgents', await send('/api/v1/agents', { key: null })],
      ['listAgents', await send('/api/v1/agents?colour=red', { key })],
      ['getAgent', await send('/api/v1/agents/agent_01jd4x7p2kf8q6v3b9m5t0s1ab', { key })],
      ['createAgent', await send('/api/v1/agents', { method: 'POST', key, headers: { 'Content-Type': 'text/plain' }, body: 'x' })],
      ['deleteAgent', await send(`/api/v1/agents/${agent.id}`, { method: 'DELETE', key })],
    ];
    expect(cases.map(([, res]) => res.status)).toEqual([200, 200, 404, 200, 200, 401, 422, 404, 415, 204]);
    for (const [operationId, res] of cases) expect(check(operationId, res.status, headersOf(res)), `${operationId} ${res.status}`).toEqual([]);
  });

  it('on an event stream, which states its own headers', async () => {
    const abort = new AbortController();
    const res = await send('/api/v1/realtime/runs', { key, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(check('streamRuns', 200, headersOf(res))).toEqual([]);
    abort.abort();
  });
});
