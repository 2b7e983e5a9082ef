import type { Context, Middleware } from 'koa';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Db, Executor } from '../db/database.js';
import { requestTransactions } from '../db/group-commit.js';
import { authenticateKey, hasScope, readCredential, resolveApplication } from '../auth/authenticate.js';
import type { AuthContext, KeyIdentity } from '../auth/identity.js';
import type { OperationSpec } from '../spec/operations.js';
import { bodyIssues, type OperationValidators } from '../spec/validators.js';
import { readJsonBody } from './body.js';
import { assertIfMatch, etagOfJson } from './etag.js';
import { managesOwnTransaction, type Handler, type HandlerInput, type OperationId } from './handler-types.js';
import { authenticateRunner, type RunnerIdentity } from '../auth/runner-auth.js';
import { fingerprint, idempotencyClaim, IdempotencyRace, storedResponse, storeResponse, type IdempotencyClaim, type StoredResponse } from './idempotency.js';
import { ProblemError, type ValidationIssue } from '../problems/problems.js';
import type { RateLimiter } from './rate-limit.js';
import type { KeyCache } from '../auth/key-cache.js';

export type OperationDeps = {
  config: Config;
  db: Db;
  rateLimiter: RateLimiter;
  logger: Logger;
  keyCache: KeyCache;
};

type Result = { status: number; body: unknown; headers?: Record<string, string>; contentType?: string; stream?: NodeJS.ReadableStream };

/** Thrown when the server itself breaks the contract; never the client's fault. */
export class ContractViolation extends Error {}

const isJsonBody = (body: unknown) => body !== undefined && !(typeof body === 'string') && !(body instanceof Uint8Array);

/**
 * Everything an operation does around its handler, in order: authenticate, rate-limit, authorise,
 * parse and validate the request, honour Idempotency-Key, run the handler (writes in one
 * transaction), then check the response against the contract before it leaves.
 */
export function operationMiddleware(op: OperationSpec, validators: OperationValidators, handler: Handler<OperationId>, deps: OperationDeps): Middleware {
  const { config, db, rateLimiter, keyCache } = deps;
  const transact = requestTransactions(db);
  const isWrite = op.method !== 'get' && op.method !== 'head';
  const transactional = isWrite && !managesOwnTransaction(handler);
  const category = op.rateCategory;

  return async (ctx: Context) => {
    let key: KeyIdentity | undefined;
    let runner: RunnerIdentity | undefined;
    let authError: unknown;
    if (op.secured) {
      const credential = readCredential(ctx) ?? (op.tokenInQuery && typeof ctx.query.token === 'string' ? ctx.query.token : undefined);
      try {
        if (op.credential === 'runner') runner = await authenticateRunner(db, credential);
        else key = await authenticateKey(db, credential, keyCache);
      } catch (err) {
        authError = err;
      }
    }
    // Budgets are per credential; an inbound hook's is its trigger's; a failed credential shares its address's.
    if (category) {
      const triggerId = op.credential === 'trigger' ? (ctx as unknown as { params: { triggerId?: string } }).params.triggerId : undefined;
      const who = key ? `key:${key.keyId}` : runner ? `runner:${runner.runnerId}` : triggerId ? `trigger:${triggerId}` : `ip:${ctx.ip}`;
      const decision = await rateLimiter.consume(who, category);
      ctx.set(decision.headers);
      if (!decision.allowed) {
        throw new ProblemError('rate-limited', `The ${category} budget of this credential is used up for this minute.`, {
          headers: { 'Retry-After': String(decision.retryAfterSeconds) },
        });
      }
    }
    if (authError) throw authError;
    if (key) {
      const scope = op.requiredScope ?? (isWrite ? 'write' : 'read');
      if (!hasScope(key.scopes, scope)) {
        throw new ProblemError('forbidden', `This operation needs the "${scope}" scope; the key has ${key.scopes.map((s) => `"${s}"`).join(', ')}.`);
      }
    }

    // Validation coerces these copies to the spec's types (a path `version` becomes a number); handlers get the copies.
    const pathParams: Record<string, unknown> = { ...(ctx as unknown as { params: Record<string, string> }).params };
    const pathIssues = validators.parameters('path', pathParams);
    // Without a declared 422, a path segment that cannot be an id names no resource.
    if (pathIssues.length && !op.declaresValidation) throw new ProblemError('not-found', `No resource at ${ctx.path}.`);
    const issues: ValidationIssue[] = [...pathIssues, ...validators.parameters('header', { ...ctx.headers })];
    const query = { ...ctx.query } as Record<string, unknown>;
    if (op.tokenInQuery) delete query.token;
    issues.push(...validators.parameters('query', query));

    let raw: Buffer | undefined;
    let body: unknown;
    if (op.requestBody) {
      const read = await readJsonBody(ctx, op.requestBody.contentTypes, config.bodyLimitBytes);
      raw = read?.raw;
      body = read?.value;
      if (read === undefined) {
        if (op.requestBody.required) issues.push({ pointer: '', in: 'body', detail: 'A request body is required.' });
      } else {
        const type = (ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase();
        issues.push(...(validators.body.get(type)?.(body) ?? []).map((i) => ({ ...i, in: 'body' as const })));
      }
    }
    if (issues.length) throw new ProblemError('validation-error', `The request has ${issues.length} invalid value${issues.length > 1 ? 's' : ''}.`, { errors: issues });

    const auth: AuthContext | undefined = key && {
      ...key,
      applicationId: op.appScoped ? await resolveApplication(db, key, ctx.get('x-app-id') || undefined) : key.keyApplicationId,
    };

    const headerValues = Object.fromEntries(op.parameters.filter((p) => p.in === 'header').map((p) => [p.name, ctx.get(p.name) || undefined]));
    const idempotencyHeader = op.idempotent ? ctx.get('idempotency-key') : '';
    const claim: IdempotencyClaim | undefined =
      idempotencyHeader && auth ? idempotencyClaim(auth.applicationId, idempotencyHeader, fingerprint(ctx.method, ctx.path, raw)) : undefined;
    const replay = (stored: StoredResponse) =>
      send(ctx, op, validators, deps, { status: stored.status, body: JSON.parse(stored.body), headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } }, stored.body);

    const committed: (() => Promise<void>)[] = [];
    // `earlier`: the response to an earlier request with the same Idempotency-Key, which answers instead.
    const run = async (executor: Executor): Promise<{ result: Result; stored?: StoredResponse } | { earlier: StoredResponse }> => {
      const earlier = claim && (await storedResponse(executor, claim));
      if (earlier) return { earlier };
      const input: HandlerInput<OperationId> = {
        path: pathParams as never,
        query: query as never,
        headers: headerValues as never,
        body: body as never,
        rawBody: raw,
        auth: auth as AuthContext,
        runner,
        db: executor,
        requestId: ctx.state.requestId as string,
        ctx,
        checkIfMatch: (current) => assertIfMatch(ctx.get('if-match') || undefined, current),
        afterCommit: (task) => void committed.push(task),
      };
      const result = (await handler(input)) as unknown as Result;
      if (op.method === 'patch') assertMergedResultValid(validators, result);
      const stored = claim && storedFrom(op, result);
      if (stored) await storeResponse(executor, claim!, stored);
      return { result, stored };
    };

    // Handlers return what succeeded and throw what failed: a failure rolls back and is never
    // stored, so the client can fix the request and retry with the same key.
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      outcome = transactional ? await transact(run) : await run(db);
    } catch (err) {
      if (!(err instanceof IdempotencyRace)) throw err;
      const winner = await storedResponse(db, claim!);
      if (!winner) throw new ProblemError('idempotency-in-flight', 'A request with this Idempotency-Key was being processed at the same time; retry to get its result.');
      return replay(winner);
    }
    if ('earlier' in outcome) return replay(outcome.earlier);
    for (const task of committed) {
      // The change is committed: a failed side effect is logged, the response still reports the change.
      await task().catch((err: unknown) => deps.logger.error({ err, operationId: op.operationId }, 'after-commit task failed'));
    }
    // The body as stored for replays is the body sent: serialised once.
    send(ctx, op, validators, deps, outcome.result, outcome.stored && isJsonBody(outcome.result.body) ? outcome.stored.body : undefined);
  };
}

/**
 * A merge patch is checked alone, but what it merges into must still be a valid resource (say,
 * no more metadata keys than allowed): checked before commit, so a bad result changes nothing.
 */
function assertMergedResultValid(validators: OperationValidators, result: Result) {
  const validate = validators.response(`${result.status}:application/json`);
  if (!validate || validate(result.body)) return;
  const errors = bodyIssues(validate.errors).map((e) => ({ ...e, in: 'body' as const }));
  throw new ProblemError('validation-error', 'The resource this patch would produce is not valid.', { errors });
}

/** `json` is the body as serialised for sending: the ETag hashes those very bytes. */
function withEtag(op: OperationSpec, result: Result, json: string | undefined): Record<string, string> {
  const headers = { ...result.headers };
  if (!headers.ETag && json !== undefined && result.body !== null && op.responses[String(result.status)]?.headers.includes('etag')) {
    headers.ETag = etagOfJson(json);
  }
  return headers;
}

function storedFrom(op: OperationSpec, result: Result): StoredResponse {
  const json = JSON.stringify(result.body ?? null);
  return { status: result.status, headers: withEtag(op, result, isJsonBody(result.body) ? json : undefined), body: json };
}

/** `serialized`: the JSON body when it is already at hand. */
function send(ctx: Context, op: OperationSpec, validators: OperationValidators, deps: OperationDeps, result: Result, serialized?: string): void {
  const json = isJsonBody(result.body) ? (serialized ?? JSON.stringify(result.body)) : undefined;
  const headers = withEtag(op, result, json);
  // Checked with the headers as they will go out (those set earlier, such as Request-Id, included), before any is set.
  const outgoing = { ...ctx.response.headers, ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])) };
  checkResponse(op, validators, deps, result, outgoing);
  ctx.status = result.status;
  ctx.set(headers);
  if ((result.body === undefined && !result.stream) || result.status === 204) {
    // Koa answers a null body with 204; a redirect keeps its status, with an empty body.
    const redirect = result.status >= 300 && result.status < 400;
    ctx.body = redirect ? '' : null;
    if (redirect) ctx.remove('Content-Type');
    return;
  }
  if (result.contentType) ctx.type = result.contentType;
  if (result.stream) {
    ctx.req.socket.setNoDelay(true);
    ctx.body = result.stream;
    return;
  }
  ctx.body = json ?? (result.body as string | Uint8Array);
  if (!result.contentType) ctx.type = 'application/json';
}

/** The response against its operation's contract: status, JSON body and headers. */
function checkResponse(op: OperationSpec, validators: OperationValidators, deps: OperationDeps, result: Result, headers: OutgoingHttpHeaders): void {
  if (deps.config.responseValidation === 'off') return;
  const problems: string[] = [];
  const declared = op.responses[String(result.status)];
  if (!declared) problems.push(`status ${result.status} is not declared`);
  else if (isJsonBody(result.body)) {
    const validate = validators.response(`${result.status}:application/json`);
    if (!validate) problems.push(`status ${result.status} declares no JSON body`);
    else if (!validate(result.body)) problems.push(...(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
  }
  reportBreach(op, [...problems, ...validators.headers(result.status, headers)], deps);
}

/** In development and test a contract breach is a 500; in production it is logged and the response goes out. */
export function reportBreach(op: OperationSpec, problems: string[], deps: OperationDeps): void {
  const mode = deps.config.responseValidation;
  if (mode === 'off' || !problems.length) return;
  const message = `Response of ${op.operationId} breaks the contract: ${problems.join('; ')}`;
  if (mode === 'strict') throw new ContractViolation(message);
  deps.logger.error({ operationId: op.operationId, problems }, 'response breaks the contract');
}

/** Problems thrown by an operation must also be ones it declares. */
export function checkProblemStatus(op: OperationSpec | undefined, status: number, deps: OperationDeps): void {
  if (!op || op.responses[String(status)] || deps.config.responseValidation === 'off') return;
  const message = `${op.operationId} answered ${status}, which its contract does not declare`;
  if (deps.config.responseValidation === 'strict') throw new ContractViolation(message);
  deps.logger.error({ operationId: op.operationId, status }, message);
}
