import type { Context } from 'koa';
import { hasScope, resolveApplication } from '../../auth/authenticate.js';
import type { AuthContext, KeyIdentity } from '../../auth/identity.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec, Scope } from '../../spec/operations.js';
import { ProblemError } from '../../problems/problems.js';

export const isWrite = (op: OperationSpec) => op.method !== 'get' && op.method !== 'head';

/** The scope an operation needs: the one it declares, else `write` to change anything and `read` to look. */
export const requiredScope = (op: OperationSpec): Scope => op.requiredScope ?? (isWrite(op) ? 'write' : 'read');

/** A run token may do what a `write` key may, in its run's application. */
const RUN_TOKEN_SCOPES: Scope[] = ['write'];

/** 403 when the key (or run token) lacks the operation's scope (runners and open operations have none to check). */
export function authorise(op: OperationSpec, key: KeyIdentity | undefined, run?: RunTokenIdentity): void {
  const scopes = key?.scopes ?? (run && RUN_TOKEN_SCOPES);
  if (!scopes) return;
  const scope = requiredScope(op);
  if (!hasScope(scopes, scope)) {
    const holder = key ? 'the key has' : 'a run token has';
    throw new ProblemError('forbidden', `This operation needs the "${scope}" scope; ${holder} ${scopes.map((s) => `"${s}"`).join(', ')}.`);
  }
}

/** The key and the application the request acts in: the key's own, or for an application-scoped operation the one X-App-Id names. */
export async function actingAs(ctx: Context, op: OperationSpec, db: Db, key: KeyIdentity): Promise<AuthContext> {
  return { ...key, applicationId: op.appScoped ? await resolveApplication(db, key, ctx.get('x-app-id') || undefined) : key.keyApplicationId };
}

/** A run token acts in its run's application, and only there: X-App-Id cannot name another. */
export function actingAsRun(ctx: Context, op: OperationSpec, run: RunTokenIdentity): AuthContext {
  const appIdHeader = op.appScoped ? ctx.get('x-app-id') : '';
  if (appIdHeader && appIdHeader !== run.applicationId) {
    throw new ProblemError('forbidden', "X-App-Id names another application; a run token acts only in its run's application.");
  }
  return {
    kind: 'run_token',
    keyId: null,
    organizationId: run.organizationId,
    applicationId: run.applicationId,
    keyApplicationId: run.applicationId,
    scopes: RUN_TOKEN_SCOPES,
  };
}
