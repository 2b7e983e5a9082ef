import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Koa, { type Context } from 'koa';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { KeyIdentity } from '../../server/src/auth/identity.js';
import { etagOfJson } from '../../server/src/resources/etag.js';
import { ProblemError } from '../../server/src/problems/problems.js';
import { authorise, requiredScope } from '../../server/src/http/pipeline/authorise.js';
import { claimOf, replayOf } from '../../server/src/http/pipeline/idempotency.js';
import { budgetKey } from '../../server/src/http/pipeline/rate-limit.js';
import { ContractViolation, respond, type RespondDeps } from '../../server/src/http/pipeline/respond.js';
import { validate } from '../../server/src/http/pipeline/validate.js';
import { loadBundledSpec } from '../../server/src/spec/load-spec.js';
import { extractOperations } from '../../server/src/spec/operations.js';
import { compileValidators } from '../../server/src/spec/validators.js';

// The steps of the operation pipeline alone, on real Koa contexts and the real spec; the HTTP
// suites check them together through the server.
const spec = loadBundledSpec();
const operations = extractOperations(spec.document);
const validators = compileValidators(spec.document, operations);
const op = (operationId: string) => operations.find((o) => o.operationId === operationId)!;
const validatorsOf = (operationId: string) => validators.get(operationId)!;

/** A Koa context for a request without a body that arrived from 203.0.113.9 and was routed with `params`. */
function contextFor(method: string, url: string, headers: Record<string, string> = {}, params: Record<string, string> = {}): Context {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.headers = { 'x-forwarded-for': '203.0.113.9', ...headers };
  const app = new Koa({ proxy: true });
  const ctx = app.createContext(req, new ServerResponse(req));
  Object.assign(ctx, { params });
  return ctx;
}

const key = (scopes: KeyIdentity['scopes']): KeyIdentity => ({
  kind: 'application_key',
  keyId: 'key_1',
  organizationId: 'org_1',
  keyApplicationId: 'app_1',
  scopes,
  allowedModels: null,
  apiVersion: null,
});

describe('rate-limit step: whose budget', () => {
  it("is the key's, the runner's, a run token's own (its lease's), an inbound hook's trigger's, else the address's (a failed credential too)", () => {
    const ctx = contextFor('POST', '/api/v1/hooks/trg_1', {}, { triggerId: 'trg_1' });
    expect(budgetKey(ctx, op('createRun'), { key: key(['write']) })).toBe('key:key_1');
    expect(budgetKey(ctx, op('claimRun'), { runner: { runnerId: 'runner_1', applicationId: 'app_1', organizationId: 'org_1', labels: [] } })).toBe(
      'runner:runner_1',
    );
    const run = {
      runId: 'run_1',
      leaseId: 'lease_1',
      fencingToken: 1,
      runnerId: 'runner_1',
      applicationId: 'app_1',
      organizationId: 'org_1',
      agentId: 'agent_1',
      agentVersion: 1,
      endUserId: null,
    };
    expect(budgetKey(ctx, op('createRun'), { run })).toBe('run-token:lease_1');
    expect(budgetKey(ctx, op('invokeTrigger'), {})).toBe('trigger:trg_1');
    expect(budgetKey(ctx, op('createRun'), { failure: new Error('unknown key') })).toBe('ip:203.0.113.9');
  });
});

describe('authorise step', () => {
  it('needs the declared scope, else write to change and read to look', () => {
    expect([requiredScope(op('getAgent')), requiredScope(op('deleteAgent')), requiredScope(op('getApiKey'))]).toEqual(['read', 'write', 'admin']);
  });

  it('refuses a key without the scope with 403 naming both; runners and open operations pass', () => {
    expect(() => authorise(op('createRun'), { key: key(['read']) })).toThrow(
      expect.objectContaining({ status: 403, message: 'This operation needs the "write" scope; the key has "read".' }),
    );
    expect(() => authorise(op('createRun'), { key: key(['admin']) })).not.toThrow();
    expect(() => authorise(op('claimRun'), {})).not.toThrow();
  });

  it("keeps a person's own account to people, and minting tokens to sessions", () => {
    const session = { kind: 'session' as const, userId: 'user_1', credentialId: 'sess_1', csrfHash: '' };
    const token = { kind: 'personal_token' as const, userId: 'user_1', credentialId: 'pat_1' };
    expect(() => authorise(op('getMe'), { key: key(['admin']) })).toThrow(expect.objectContaining({ status: 403 }));
    expect(() => authorise(op('getMe'), { user: token })).not.toThrow();
    expect(() => authorise(op('createPersonalToken'), { user: token })).toThrow(expect.objectContaining({ status: 403 }));
    expect(() => authorise(op('createPersonalToken'), { user: session })).not.toThrow();
  });
});

describe('validate step', () => {
  const LIMITS = { bodyBytes: 1024, uploadBytes: 1024 };
  const code = async (promise: Promise<unknown>) =>
    promise.then(
      () => 'valid',
      (err: unknown) => (err instanceof ProblemError ? `${err.status} ${err.code}` : String(err)),
    );

  it('answers a path segment that cannot be an id with 422 where the operation declares it, else 404', async () => {
    const getAgent = contextFor('GET', '/api/v1/agents/nope', {}, { agentId: 'nope' });
    expect(await code(validate(getAgent, op('getAgent'), validatorsOf('getAgent'), LIMITS))).toBe('422 validation-error');
    const problem = contextFor('GET', '/api/problems/NOPE', {}, { code: 'NOPE' });
    expect(await code(validate(problem, op('getProblemType'), validatorsOf('getProblemType'), LIMITS))).toBe('404 not-found');
  });

  it('takes `token` out of the query of the routes that accept the credential there', async () => {
    const ctx = contextFor('GET', '/api/v1/realtime/runs?token=sb_secret');
    const request = await validate(ctx, op('streamRuns'), validatorsOf('streamRuns'), LIMITS);
    expect(request.query).not.toHaveProperty('token');
    const elsewhere = contextFor('GET', '/api/v1/agents?token=sb_secret');
    expect(await code(validate(elsewhere, op('listAgents'), validatorsOf('listAgents'), LIMITS))).toBe('422 validation-error');
  });

  it('gives the handler coerced copies of the parameters and the declared headers', async () => {
    const agentId = 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab';
    const appId = 'app_01jd4x7p2kf8q6v3b9m5t0s1ab';
    const ctx = contextFor('GET', `/api/v1/agents/${agentId}/versions/3`, { 'x-app-id': appId }, { agentId, version: '3' });
    const request = await validate(ctx, op('getAgentVersion'), validatorsOf('getAgentVersion'), LIMITS);
    expect(request.path).toEqual({ agentId, version: 3 });
    expect(request.headers).toEqual({ 'X-App-Id': appId });
    expect((ctx as unknown as { params: object }).params).toEqual({ agentId, version: '3' });
  });
});

describe('idempotency step', () => {
  const claim = (ctx: Context, raw?: string) => claimOf(ctx, op('createRun'), 'app_1', raw === undefined ? undefined : Buffer.from(raw));

  it('claims the key on an operation that honours one, for a key that sent it', () => {
    const ctx = contextFor('POST', '/api/v1/runs', { 'idempotency-key': 'k1' });
    expect(claim(ctx, '{}')).toMatchObject({ scope: 'app_1', key: 'k1' });
    expect(claim(contextFor('POST', '/api/v1/runs'), '{}')).toBeUndefined();
    expect(claimOf(ctx, op('createRun'), undefined, Buffer.from('{}'))).toBeUndefined();
    expect(claimOf(contextFor('DELETE', '/api/v1/agents/a', { 'idempotency-key': 'k1' }), op('deleteAgent'), 'app_1', undefined)).toBeUndefined();
  });

  it('fingerprints the method, path and body bytes', () => {
    const ctx = contextFor('POST', '/api/v1/runs', { 'idempotency-key': 'k1' });
    expect(claim(ctx, '{"a":1}')!.fingerprint).toBe(claim(ctx, '{"a":1}')!.fingerprint);
    expect(claim(ctx, '{"a":1}')!.fingerprint).not.toBe(claim(ctx, '{"a": 1}')!.fingerprint);
  });
});

describe('respond step', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const deps = (responseValidation: 'strict' | 'log' | 'off'): RespondDeps => ({ config: { responseValidation }, logger });
  const agentId = 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab';
  /** The standard headers the app and rate-limit steps set before this one, which the contract requires. */
  const earlierSteps = (ctx: Context, rateLimited = true) => {
    ctx.set('Request-Id', 'req_01jd4z0a3c6e9g2j5m8p1r4t7v');
    if (rateLimited) ctx.set({ RateLimit: '"write";r=119;t=42', 'RateLimit-Policy': '"write";q=120;w=60' });
    if (ctx.path.startsWith('/api/v1/')) ctx.set('Switchboard-Version', '2026-12-05');
    return ctx;
  };

  it('sends a stored body as stored, with the ETag of those very bytes', () => {
    const stored = { status: 200, headers: { 'X-Stored': 'yes' }, body: '{"object": "agent"}' };
    const ctx = contextFor('GET', `/api/v1/agents/${agentId}`);
    respond(ctx, op('getAgent'), validatorsOf('getAgent'), deps('off'), replayOf(stored));
    expect(ctx.body).toBe('{"object": "agent"}');
    expect(ctx.response.get('ETag')).toBe(etagOfJson('{"object": "agent"}'));
    expect([ctx.response.get('Idempotent-Replayed'), ctx.response.get('X-Stored'), ctx.type]).toEqual(['true', 'yes', 'application/json']);
  });

  it('answers 204 without a body, and a redirect with an empty one and no Content-Type', () => {
    const deleted = earlierSteps(contextFor('DELETE', `/api/v1/agents/${agentId}`));
    respond(deleted, op('deleteAgent'), validatorsOf('deleteAgent'), deps('strict'), { result: { status: 204, body: undefined }, json: undefined });
    expect([deleted.status, deleted.body]).toEqual([204, null]);
    const root = earlierSteps(contextFor('GET', '/'), false);
    const redirect = { result: { status: 302, body: undefined, headers: { Location: '/api/docs' } }, json: undefined };
    respond(root, op('getRoot'), validatorsOf('getRoot'), deps('strict'), redirect);
    expect([root.status, root.body, root.response.get('Location'), root.response.get('Content-Type')]).toEqual([302, '', '/api/docs', undefined]);
  });

  it('breaks the contract loudly in strict mode, logs it in log mode, and sends nothing in strict', () => {
    const undeclared = { result: { status: 201, body: { object: 'agent' } }, json: undefined };
    const strict = contextFor('GET', `/api/v1/agents/${agentId}`);
    expect(() => respond(strict, op('getAgent'), validatorsOf('getAgent'), deps('strict'), undeclared)).toThrow(ContractViolation);
    expect(strict.body).toBeUndefined();
    lines.length = 0;
    const logged = contextFor('GET', `/api/v1/agents/${agentId}`);
    respond(logged, op('getAgent'), validatorsOf('getAgent'), deps('log'), undeclared);
    expect(logged.status).toBe(201);
    expect(lines).toEqual([
      expect.objectContaining({ operationId: 'getAgent', problems: ['status 201 is not declared'], msg: 'response breaks the contract' }),
    ]);
  });
});
