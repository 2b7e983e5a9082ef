import type { Context } from 'koa';
import { resolveApplication } from '../../auth/authenticate.js';
import { withoutApplication, type AuthContext, type KeyIdentity, type UserAuth, type UserContext, type UserIdentity } from '../../auth/identity.js';
import { membershipOf } from '../../auth/memberships.js';
import { effectiveScopes, hasScope, roleScopes, type Role } from '../../auth/roles.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec, Scope } from '../../spec/operations.js';
import { ProblemError } from '../../problems/problems.js';
import type { Caller } from './authenticate.js';

export const isWrite = (op: OperationSpec) => op.method !== 'get' && op.method !== 'head';

/** The scope an operation needs: the one it declares, else `write` to change anything and `read` to look. */
export const requiredScope = (op: OperationSpec): Scope => op.requiredScope ?? (isWrite(op) ? 'write' : 'read');

/** A run token may do what a `write` key may, in its run's application. */
const RUN_TOKEN_SCOPES: Scope[] = ['write'];

/** Operations on a person's own account (`x-credential: user`, or `session` for those a token must not do). */
export const isUserOperation = (op: OperationSpec) => op.credential === 'user' || op.credential === 'session';

function assertScope(op: OperationSpec, scopes: Scope[], holder: string): void {
  const scope = requiredScope(op);
  if (!hasScope(scopes, scope)) {
    throw new ProblemError('forbidden', `This operation needs the "${scope}" scope; ${holder} ${scopes.map((s) => `"${s}"`).join(', ')}.`);
  }
}

/**
 * 403 when the credential is of a kind the operation does not take, or (keys and run tokens) lacks
 * its scope. A person's scopes depend on the organization the request acts in: `actingAs` checks them.
 */
export function authorise(op: OperationSpec, caller: Caller): void {
  if (isUserOperation(op)) {
    if (op.credential === 'session' && caller.user?.kind !== 'session') {
      throw new ProblemError('forbidden', "This operation needs a signed-in user's session cookie: log in (a personal token or an API key cannot do it).");
    }
    if (!caller.user)
      throw new ProblemError('forbidden', 'This operation is about a signed-in user: call it with a session cookie or a personal token (sbp_...).');
    return;
  }
  if (caller.key) assertScope(op, caller.key.scopes, 'the key has');
  else if (caller.run) assertScope(op, RUN_TOKEN_SCOPES, 'a run token has');
}

/** The key and the application the request acts in: the key's own, or for an application-scoped operation the one X-App-Id names. */
export async function actingAs(ctx: Context, op: OperationSpec, db: Db, key: KeyIdentity): Promise<AuthContext> {
  const orgHeader = ctx.get('x-org-id');
  if (orgHeader && orgHeader !== key.organizationId) throw new ProblemError('not-found', `No organization with id ${orgHeader}.`);
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

const scopesOf = (user: UserIdentity, role: Role) => (user.token ? effectiveScopes(user.token.scopes, role) : roleScopes(role));

/**
 * A person acts in an organization (X-Org-Id, or their only one) with what their role allows
 * there now (a token: its scopes within that), and on application-scoped operations in the
 * application X-App-Id must name: a person belongs to no application of their own.
 */
export async function actingAsUser(ctx: Context, op: OperationSpec, db: Db, user: UserIdentity): Promise<UserAuth> {
  const membership = (await membershipOf(db, user, ctx.get('x-org-id') || undefined))!;
  const scopes = scopesOf(user, membership.role);
  assertScope(op, scopes, user.token ? `this personal token, within the ${membership.role} role, has` : `the ${membership.role} role has`);
  if (user.kind === 'session' && ctx.get('switchboard-user')) {
    throw new ProblemError(
      'bad-request',
      'Switchboard-User is not accepted with a session cookie: act for an end-user with an application key or a personal token.',
      {
        errors: [{ parameter: 'Switchboard-User', in: 'header', detail: 'not accepted with a session cookie' }],
      },
    );
  }
  const base = { kind: user.kind, keyId: null, userId: user.userId, credentialId: user.credentialId, ...membership, keyApplicationId: null, scopes };
  if (!op.appScoped) return withoutApplication(base);
  const appId = ctx.get('x-app-id');
  if (!appId) throw new ProblemError('app-id-required', 'A person acts in an application only when the X-App-Id header names it.');
  const app = await db('applications').where({ id: appId, organization_id: membership.organizationId }).first<{ id: string } | undefined>('id');
  if (!app) throw new ProblemError('not-found', `No application with id ${appId}.`);
  return { ...base, applicationId: appId };
}

export async function actingAsSelf(ctx: Context, op: OperationSpec, db: Db, user: UserIdentity): Promise<UserContext> {
  const membership = await membershipOf(db, user, ctx.get('x-org-id') || undefined, false);
  const scopes: Scope[] = user.token ? scopesOf(user, membership!.role) : ['admin'];
  assertScope(op, scopes, `this personal token, within the ${membership?.role} role, has`);
  return {
    kind: user.kind,
    userId: user.userId,
    credentialId: user.credentialId,
    organizationId: membership?.organizationId ?? null,
    role: membership?.role ?? null,
    scopes,
  };
}
