import type { Context } from 'koa';
import { hasScope, resolveApplication } from '../../auth/authenticate.js';
import type { AuthContext, KeyIdentity } from '../../auth/identity.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec, Scope } from '../../spec/operations.js';
import { ProblemError } from '../../problems/problems.js';

export const isWrite = (op: OperationSpec) => op.method !== 'get' && op.method !== 'head';

/** The scope an operation needs: the one it declares, else `write` to change anything and `read` to look. */
export const requiredScope = (op: OperationSpec): Scope => op.requiredScope ?? (isWrite(op) ? 'write' : 'read');

/** 403 when the key lacks the operation's scope (runners and open operations have none to check). */
export function authorise(op: OperationSpec, key: KeyIdentity | undefined): void {
  if (!key) return;
  const scope = requiredScope(op);
  if (!hasScope(key.scopes, scope)) {
    throw new ProblemError('forbidden', `This operation needs the "${scope}" scope; the key has ${key.scopes.map((s) => `"${s}"`).join(', ')}.`);
  }
}

/** The key and the application the request acts in: the key's own, or for an application-scoped operation the one X-App-Id names. */
export async function actingAs(ctx: Context, op: OperationSpec, db: Db, key: KeyIdentity): Promise<AuthContext> {
  return { ...key, applicationId: op.appScoped ? await resolveApplication(db, key, ctx.get('x-app-id') || undefined) : key.keyApplicationId };
}
