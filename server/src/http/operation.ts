import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { CommitTask } from '../db/after-commit.js';
import type { RunRedaction } from '../resources/secrets/redaction.js';
import type { Db, Executor } from '../db/database.js';
import type { KeyCache } from '../auth/key-cache.js';
import type { RunTokens } from '../auth/run-token.js';
import type { EndUserTokens } from '../auth/end-user-tokens.js';
import type { AuthContext, UserContext } from '../auth/identity.js';
import type { OperationSpec } from '../spec/operations.js';
import type { OperationValidators } from '../spec/validators.js';
import type { Handler, OperationId } from '../resources/handler-types.js';
import { storedResponse } from './idempotency.js';
import type { RateLimiter } from './rate-limit.js';
import { authenticate, type Caller } from './pipeline/authenticate.js';
import { actingAs, actingAsEndUser, actingAsRun, actingAsSelf, actingAsUser, authorise, isUserOperation } from './pipeline/authorise.js';
import { auditTrail, isRefusal, recordRefusal, type Auditing } from './pipeline/audit.js';
import { checkCsrf } from './pipeline/csrf.js';
import { claimOf, replayOf, replayRaceWinner, storeResult } from './pipeline/idempotency.js';
import { rateLimit } from './pipeline/rate-limit.js';
import { redactRunWrite } from './pipeline/redact.js';
import { respond, type Reply, type Result } from './pipeline/respond.js';
import { handlerInput, transact, transactionsFor } from './pipeline/transact.js';
import { assertMergedResultValid, validate } from './pipeline/validate.js';
import { askedVersion, echoVersion, resolveVersion, type AskedVersion } from './pipeline/version.js';
import type { OrganizationPins } from '../versions/pins.js';
import type { Versioning } from '../versions/versioning.js';
import { ProblemError } from '../problems/problems.js';

export type OperationDeps = {
  config: Config;
  db: Db;
  rateLimiter: RateLimiter;
  logger: Logger;
  keyCache: KeyCache;
  runTokens: RunTokens;
  endUserTokens: EndUserTokens;
  auditing: Auditing;
  versioning: Versioning;
  pins: OrganizationPins;
  redaction: RunRedaction;
};

/**
 * Everything an operation does around its handler, as the steps of http/pipeline/ in order:
 * authenticate, rate-limit, check a cookie's CSRF token, authorise, resolve the API version it
 * speaks, validate (a body in an older version lifted to the newest first), redact a run's writes, resolve the
 * organization and application it acts in, honour Idempotency-Key, run the handler (writes in
 * one transaction, then what waits for their commit), and respond once the response is checked
 * against the contract (lowered to the request's version after).
 */
/**
 * Whose Idempotency-Keys a request's key is among: an application's (its keys and run tokens
 * share them), or a person's own, per application or organization they act in.
 */
function idempotencyScope(op: OperationSpec, auth: AuthContext | undefined, user: UserContext | undefined): string | undefined {
  if (user) return user.userId;
  if (auth?.kind === 'personal_token' || auth?.kind === 'session') return `${auth.userId}:${op.appScoped ? auth.applicationId : auth.organizationId}`;
  return auth?.applicationId;
}

export function operationMiddleware(op: OperationSpec, validators: OperationValidators, handler: Handler<OperationId>, deps: OperationDeps): Middleware {
  const { config, db, rateLimiter } = deps;
  const transactions = transactionsFor(op, handler, db);
  const reportTaskFailure = (err: unknown) => deps.logger.error({ err, operationId: op.operationId }, 'after-commit task failed');

  const { versioning } = deps;
  return async (ctx: Context) => {
    const asked = askedVersion(ctx, op, versioning);
    // Every answer says its version: until the request's is resolved, the one asked for, else the newest.
    if (op.versioned) ctx.set('Switchboard-Version', asked.version ?? versioning.newest);
    let caller: Caller | undefined;
    try {
      caller = await authenticate(ctx, op, deps);
      await answer(ctx, caller, asked);
    } catch (err) {
      if (isRefusal(err)) await recordRefusal(ctx, op, caller, err, deps);
      throw err;
    }
  };

  async function answer(ctx: Context, caller: Caller, asked: AskedVersion): Promise<void> {
    await rateLimit(ctx, op, rateLimiter, caller);
    // Refused only once charged: guessing credentials spends the address's budget.
    if (caller.failure) throw caller.failure;
    if (asked.refusal) throw asked.refusal;
    checkCsrf(ctx, op, caller);
    authorise(op, caller);
    const version = await resolveVersion(ctx, op, caller, asked.version, deps);
    if (op.retiredIn && version >= op.retiredIn) {
      throw new ProblemError(
        'not-found',
        `No route ${ctx.method} ${ctx.path} in version ${version}: ${op.operationId} was removed in version ${op.retiredIn} (see GET /api/v1/versions).`,
      );
    }
    const older = versioning.isOlder(version);
    if (op.versioned) {
      ctx.state.apiVersion = version;
      echoVersion(ctx, versioning, version);
    }
    const bodyBytes = op.bodyLimit === 'gateway' ? config.gateway.bodyLimitBytes : config.bodyLimitBytes;
    const lift = older ? (body: unknown) => versioning.liftRequest(op.operationId, version, body) : undefined;
    const request = await validate(ctx, op, validators, { bodyBytes, uploadBytes: config.uploadLimitBytes }, lift);
    await redactRunWrite(op, caller, request, deps.redaction);
    let auth: AuthContext | undefined;
    let user: UserContext | undefined;
    if (caller.key) auth = await actingAs(ctx, op, db, caller.key);
    else if (caller.run) auth = actingAsRun(ctx, op, caller.run);
    else if (caller.endUser) auth = actingAsEndUser(ctx, op, caller.endUser);
    else if (caller.user && isUserOperation(op)) user = await actingAsSelf(ctx, op, db, caller.user);
    else if (caller.user) auth = await actingAsUser(ctx, op, db, caller.user);
    // For the request's trace span (observability/otel.ts). Not read through the property: on an
    // organization-level operation a person's `applicationId` is a getter that refuses (withoutApplication).
    const applicationId: unknown = auth && Object.getOwnPropertyDescriptor(auth, 'applicationId')?.value;
    if (typeof applicationId === 'string') ctx.state.applicationId = applicationId;
    const claim = claimOf(ctx, op, idempotencyScope(op, auth, user), request.fingerprint);
    const audit = auditTrail(ctx, op, { auth, user, caller }, deps.auditing.chainer);

    const tasks: CommitTask[] = [];
    // In the request's transaction: the response to an earlier request with the key answers instead;
    // else the handler's result, stored under the key with the writes it reports.
    const handle = async (executor: Executor): Promise<Reply> => {
      const earlier = claim && (await storedResponse(executor, claim));
      if (earlier) return replayOf(earlier);
      const result = (await handler(handlerInput(ctx, request, { auth, user }, caller, executor, tasks, audit, version))) as unknown as Result;
      if (op.method === 'patch') assertMergedResultValid(validators, result);
      if (transactions && result.status < 400) await audit.record(executor, result.body, result.status);
      return claim ? storeResult(executor, claim, op, result) : { result, json: undefined };
    };
    let reply: Reply;
    try {
      reply = await transact(transactions, db, handle, tasks, reportTaskFailure);
    } catch (err) {
      reply = await replayRaceWinner(err, db, claim);
    }
    respond(ctx, op, validators, deps, reply, older ? (result) => versioning.lowerResponse(op.operationId, version, result) : undefined);
  }
}
