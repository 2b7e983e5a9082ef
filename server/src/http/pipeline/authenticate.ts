import type { Context } from 'koa';
import { authenticateKey, readCredential } from '../../auth/authenticate.js';
import type { KeyIdentity } from '../../auth/identity.js';
import type { KeyCache } from '../../auth/key-cache.js';
import { authenticateRunToken, RUN_TOKEN_PREFIX, type RunTokenIdentity, type RunTokens } from '../../auth/run-token.js';
import { authenticateRunner, type RunnerIdentity } from '../../auth/runner-auth.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec } from '../../spec/operations.js';

/**
 * Who calls: an application key, a runner, or (on the AI gateway's operations) a run token, as the
 * operation's `x-credential` says; nobody on an open operation. `failure` is the credential's
 * refusal, kept to be thrown once its budget is charged (see operation.ts).
 */
export type Caller = { readonly key?: KeyIdentity; readonly runner?: RunnerIdentity; readonly run?: RunTokenIdentity; readonly failure?: Error };

const NOBODY: Caller = Object.freeze({});

/**
 * The credential from the headers (`x-api-key` too on the routes that declare it), or from `?token=`
 * on the routes that take it there (EventSource cannot send headers).
 */
export const credentialOf = (ctx: Context, op: OperationSpec): string | undefined =>
  readCredential(ctx, op.tokenInXApiKey) ?? (op.tokenInQuery && typeof ctx.query.token === 'string' ? ctx.query.token : undefined);

export type Authenticators = { db: Db; keyCache: KeyCache; runTokens: RunTokens };

async function identify(op: OperationSpec, credential: string | undefined, { db, keyCache, runTokens }: Authenticators): Promise<Caller> {
  if (op.credential === 'runner') return { runner: await authenticateRunner(db, credential) };
  if (op.credential === 'gateway' && credential?.startsWith(RUN_TOKEN_PREFIX)) return { run: await authenticateRunToken(db, runTokens, credential) };
  // Anything else is a key: a run token or a runner token on another operation is as unknown as a made-up key.
  return { key: await authenticateKey(db, credential, keyCache) };
}

export async function authenticate(ctx: Context, op: OperationSpec, authenticators: Authenticators): Promise<Caller> {
  if (!op.secured) return NOBODY;
  try {
    return await identify(op, credentialOf(ctx, op), authenticators);
  } catch (failure) {
    return { failure: failure instanceof Error ? failure : new Error(String(failure)) };
  }
}
