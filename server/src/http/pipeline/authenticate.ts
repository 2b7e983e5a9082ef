import type { Context } from 'koa';
import { ProblemError } from '../../problems/problems.js';
import { authenticateKey, readCredential, unauthorized } from '../../auth/authenticate.js';
import { authenticateEndUserToken, END_USER_TOKEN_PREFIX, type EndUserIdentity, type EndUserTokens } from '../../auth/end-user-tokens.js';
import type { KeyIdentity, UserIdentity } from '../../auth/identity.js';
import type { KeyCache } from '../../auth/key-cache.js';
import { authenticatePersonalToken, PERSONAL_TOKEN_PREFIX } from '../../auth/personal-tokens.js';
import { authenticateRunToken, RUN_TOKEN_PREFIX, type RunTokenIdentity, type RunTokens } from '../../auth/run-token.js';
import { authenticateRunner, RUNNER_TOKEN_PREFIX, type RunnerIdentity } from '../../auth/runner-auth.js';
import { authenticateSession, sessionLifetimes, sessionTokenOf } from '../../auth/sessions.js';
import type { Config } from '../../config/config.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec } from '../../spec/operations.js';

/**
 * Who calls: an application key, a person (personal token or session cookie), an end-user (their
 * token, on the operations that take it), a runner, or (on the AI gateway's and the tasks'
 * operations) a run token, as the operation's `x-credential` allows; nobody on an open
 * operation. `failure` is the credential's refusal, kept to be thrown once its budget is charged
 * (see operation.ts).
 */
export type Caller = {
  readonly key?: KeyIdentity;
  readonly user?: UserIdentity;
  readonly runner?: RunnerIdentity;
  readonly run?: RunTokenIdentity;
  readonly endUser?: EndUserIdentity;
  readonly failure?: Error;
};

const NOBODY: Caller = Object.freeze({});

/**
 * The credential from the headers (`x-api-key` too on the routes that declare it), or from `?token=`
 * on the routes that take it there (EventSource cannot send headers).
 */
export const credentialOf = (ctx: Context, op: OperationSpec): string | undefined =>
  readCredential(ctx, op.tokenInXApiKey) ?? (op.tokenInQuery && typeof ctx.query.token === 'string' ? ctx.query.token : undefined);

export type Authenticators = { db: Db; keyCache: KeyCache; runTokens: RunTokens; endUserTokens: EndUserTokens; config: Pick<Config, 'identity'> };

/** The session cookie is a browser's credential: every operation but the runners' and the AI gateway's (called by SDKs) takes it. */
const takesCookie = (op: OperationSpec) => op.credential !== 'runner' && op.credential !== 'gateway' && op.credential !== 'run';

/**
 * One order for every operation: the credential sent as a header (or query) wins over a cookie, and
 * its prefix says what it is: run token, runner token, application key, personal token, end-user
 * token. A kind the
 * operation does not take is as unknown as a made-up key; which kinds reach which operations is
 * settled in the authorise step.
 */
async function identify(
  ctx: Context,
  op: OperationSpec,
  credential: string | undefined,
  { db, keyCache, runTokens, endUserTokens, config }: Authenticators,
): Promise<Caller> {
  if (op.credential === 'runner') return { runner: await authenticateRunner(db, credential) };
  if (credential === undefined && takesCookie(op)) {
    const session = sessionTokenOf(ctx);
    if (session) return { user: await authenticateSession(db, session, sessionLifetimes(config)) };
  }
  if (op.credential === 'run') return { run: await authenticateRunToken(db, runTokens, credential, { waiting: true }) };
  if (credential?.startsWith(RUN_TOKEN_PREFIX)) {
    if (op.credential === 'gateway' || op.credential === 'key-or-run') return { run: await authenticateRunToken(db, runTokens, credential) };
    if (op.refusesRuns) {
      // A genuine token is told why; anything else is as unknown as everywhere.
      await authenticateRunToken(db, runTokens, credential);
      throw new ProblemError('forbidden', op.refusesRuns);
    }
    throw unauthorized();
  }
  if (credential?.startsWith(RUNNER_TOKEN_PREFIX)) throw unauthorized();
  if (credential?.startsWith(PERSONAL_TOKEN_PREFIX)) return { user: await authenticatePersonalToken(db, credential, ctx.ip) };
  if (credential?.startsWith(END_USER_TOKEN_PREFIX)) {
    if (!op.takesEndUserToken) throw unauthorized();
    return { endUser: await authenticateEndUserToken(db, endUserTokens, credential) };
  }
  return { key: await authenticateKey(db, credential, keyCache) };
}

export async function authenticate(ctx: Context, op: OperationSpec, authenticators: Authenticators): Promise<Caller> {
  if (!op.secured) return NOBODY;
  try {
    return await identify(ctx, op, credentialOf(ctx, op), authenticators);
  } catch (failure) {
    return { failure: failure instanceof Error ? failure : new Error(String(failure)) };
  }
}
