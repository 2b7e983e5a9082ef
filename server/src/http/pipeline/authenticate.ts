import type { Context } from 'koa';
import { authenticateKey, readCredential } from '../../auth/authenticate.js';
import type { KeyIdentity } from '../../auth/identity.js';
import type { KeyCache } from '../../auth/key-cache.js';
import { authenticateRunner, type RunnerIdentity } from '../../auth/runner-auth.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec } from '../../spec/operations.js';

/**
 * Who calls: an application key or a runner, as the operation's `x-credential` says; nobody on an
 * open operation. `failure` is the credential's refusal, kept to be thrown once its budget is
 * charged (see operation.ts).
 */
export type Caller = { readonly key?: KeyIdentity; readonly runner?: RunnerIdentity; readonly failure?: Error };

const NOBODY: Caller = Object.freeze({});

/**
 * The credential from the headers (`x-api-key` too on the routes that declare it), or from `?token=`
 * on the routes that take it there (EventSource cannot send headers).
 */
export const credentialOf = (ctx: Context, op: OperationSpec): string | undefined =>
  readCredential(ctx, op.tokenInXApiKey) ?? (op.tokenInQuery && typeof ctx.query.token === 'string' ? ctx.query.token : undefined);

export async function authenticate(ctx: Context, op: OperationSpec, db: Db, keyCache: KeyCache): Promise<Caller> {
  if (!op.secured) return NOBODY;
  const credential = credentialOf(ctx, op);
  try {
    return op.credential === 'runner' ? { runner: await authenticateRunner(db, credential) } : { key: await authenticateKey(db, credential, keyCache) };
  } catch (failure) {
    return { failure: failure instanceof Error ? failure : new Error(String(failure)) };
  }
}
