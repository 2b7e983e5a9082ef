import type { Context } from 'koa';
import { resolveApplication } from '../../auth/authenticate.js';
import { withoutApplication, type AuthContext, type KeyIdentity, type UserAuth, type UserContext, type UserIdentity } from '../../auth/identity.js';
import { membershipOf } from '../../auth/memberships.js';
import { effectiveScopes, hasScope, roleScopes, type Role } from '../../auth/roles.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { EndUserIdentity } from '../../auth/end-user-tokens.js';
import { endUserIdFor } from '../../resources/end-users/store.js';
import type { Db } from '../../db/database.js';
import type { OperationSpec, Scope } from '../../spec/operations.js';
import { ProblemError } from '../../problems/problems.js';
import type { Caller } from './authenticate.js';

export const isWrite = (op: OperationSpec) => op.method !== 'get' && op.method !== 'head';

/** The scope an operation needs: the one it declares, else `write` to change anything and `read` to look. */
export const requiredScope = (op: OperationSpec): Scope => op.requiredScope ?? (isWrite(op) ? 'write' : 'read');

/** A run token may do what a `write` key may, in its run's application; an end-user token, on the few operations that take it. */
const RUN_TOKEN_SCOPES: Scope[] = ['write'];
const END_USER_TOKEN_SCOPES: Scope[] = ['write'];

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
  else if (caller.endUser) assertScope(op, END_USER_TOKEN_SCOPES, 'an end-user token has');
}

const SWITCHBOARD_USER = /^[\x21-\x7e]{1,255}$/;

const headerRefused = (detail: string) => new ProblemError('bad-request', detail, { errors: [{ parameter: 'Switchboard-User', in: 'header', detail }] });

/**
 * The end-user an application key or a person acts for with Switchboard-User: an `eu_` id of the
 * application's (404 otherwise), or the application's own external id, whose end-user is created
 * on first use. Undefined without the header, or on an operation that acts in no application.
 */
async function endUserNamed(ctx: Context, op: OperationSpec, db: Db, applicationId: () => string): Promise<string | undefined> {
  const header = ctx.get('switchboard-user');
  if (!header || !op.appScoped) return undefined;
  if (!SWITCHBOARD_USER.test(header)) throw headerRefused('Switchboard-User must be an eu_... id or 1 to 255 printable ASCII characters.');
  const app = applicationId();
  if (/^eu_[0-7][0-9a-hjkmnp-tv-z]{25}$/.test(header)) {
    const found = await db('end_users').where({ id: header, application_id: app }).first<{ id: string } | undefined>('id');
    if (!found) throw new ProblemError('not-found', `No end-user with id ${header}.`);
    return found.id;
  }
  return endUserIdFor(db, app, header);
}

const withEndUser = <T extends AuthContext>(auth: T, endUserId: string | undefined): T => (endUserId ? { ...auth, endUserId } : auth);

/** The key and the application the request acts in: the key's own, or for an application-scoped operation the one X-App-Id names. */
export async function actingAs(ctx: Context, op: OperationSpec, db: Db, key: KeyIdentity): Promise<AuthContext> {
  const orgHeader = ctx.get('x-org-id');
  if (orgHeader && orgHeader !== key.organizationId) throw new ProblemError('not-found', `No organization with id ${orgHeader}.`);
  const applicationId = op.appScoped ? await resolveApplication(db, key, ctx.get('x-app-id') || undefined) : key.keyApplicationId;
  return withEndUser({ ...key, applicationId }, await endUserNamed(ctx, op, db, () => applicationId));
}

/** A run token acts in its run's application, and only there: X-App-Id cannot name another. */
export function actingAsRun(ctx: Context, op: OperationSpec, run: RunTokenIdentity): AuthContext {
  const appIdHeader = op.appScoped ? ctx.get('x-app-id') : '';
  if (appIdHeader && appIdHeader !== run.applicationId) {
    throw new ProblemError('forbidden', "X-App-Id names another application; a run token acts only in its run's application.");
  }
  if (ctx.get('switchboard-user')) {
    throw headerRefused("A run's calls are attributed to the run's own end-user: Switchboard-User is not accepted with a run token.");
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

/** An end-user token acts as its end-user, in their application only. */
export function actingAsEndUser(ctx: Context, op: OperationSpec, endUser: EndUserIdentity): AuthContext {
  const appIdHeader = op.appScoped ? ctx.get('x-app-id') : '';
  if (appIdHeader && appIdHeader !== endUser.applicationId) {
    throw new ProblemError('forbidden', "X-App-Id names another application; an end-user token acts only in its end-user's application.");
  }
  if (ctx.get('switchboard-user')) throw headerRefused('An end-user token acts as its own end-user: Switchboard-User is not accepted with it.');
  return {
    kind: 'end_user_token',
    keyId: null,
    organizationId: endUser.organizationId,
    applicationId: endUser.applicationId,
    keyApplicationId: endUser.applicationId,
    scopes: END_USER_TOKEN_SCOPES,
    endUserId: endUser.endUserId,
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
    throw headerRefused('Switchboard-User is not accepted with a session cookie: act for an end-user with an application key or a personal token.');
  }
  const base = { kind: user.kind, keyId: null, userId: user.userId, credentialId: user.credentialId, ...membership, keyApplicationId: null, scopes };
  if (!op.appScoped) return withoutApplication(base);
  const appId = ctx.get('x-app-id');
  if (!appId) throw new ProblemError('app-id-required', 'A person acts in an application only when the X-App-Id header names it.');
  const app = await db('applications').where({ id: appId, organization_id: membership.organizationId }).first<{ id: string } | undefined>('id');
  if (!app) throw new ProblemError('not-found', `No application with id ${appId}.`);
  return withEndUser({ ...base, applicationId: appId }, await endUserNamed(ctx, op, db, () => appId));
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
