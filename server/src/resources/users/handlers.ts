import type { Context } from 'koa';
import type { Config } from '../../config/config.js';
import { isPostgres, type Executor } from '../../db/database.js';
import type { LoginLimiter } from '../../auth/login-limiter.js';
import { hashPassword, needsRehash, prepareDecoyPassword, verifyPassword } from '../../auth/passwords.js';
import type { Role } from '../../auth/roles.js';
import {
  clearedSessionCookies,
  insertSession,
  revokeSessionByToken,
  sessionCookies,
  sessionLifetimes,
  sessionTokenOf,
  type NewSession,
} from '../../auth/sessions.js';
import { ProblemError } from '../../problems/problems.js';
import { defineHandlers, ownTransaction } from '../handler-types.js';
import { insertOrganization } from '../organization/store.js';
import { acceptInvitationRow, pendingInvitationByToken } from '../invitations/store.js';
import { nowIso } from '../../util/time.js';
import * as store from './store.js';

const invalidCredentials = () => new ProblemError('invalid-credentials', 'The email or password is wrong.');

/** The client as a session records it, for the person's list of their sessions. */
const clientOf = (ctx: Context) => ({ ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null });

/**
 * Where a new user belongs: the organization that invited them (with the invited role); the first
 * (bootstrap) organization, as its owner, for the first user of an install; with open sign-up, a
 * new organization of their own, pinned to the newest API version. Anyone else is refused.
 */
async function placeNewUser(
  trx: Executor,
  config: Config,
  newestVersion: string,
  input: { email: string; name: string; invitationToken?: string },
): Promise<{ organizationId: string; role: Role; invitationId?: string }> {
  if (input.invitationToken) {
    const invitation = await pendingInvitationByToken(trx, input.invitationToken);
    if (store.normalizeEmail(invitation.email) !== store.normalizeEmail(input.email)) {
      throw new ProblemError('forbidden', 'This invitation is for another email address: sign up with the address it was sent to.');
    }
    return { organizationId: invitation.organization_id, role: invitation.role, invitationId: invitation.id };
  }
  const anyUser = await trx('users').first<{ id: string } | undefined>('id');
  if (!anyUser) {
    const bootstrap = await trx('organizations').orderBy('created_at').first<{ id: string } | undefined>('id');
    if (bootstrap) return { organizationId: bootstrap.id, role: 'owner' };
  } else if (config.identity.signup !== 'open') {
    throw new ProblemError('signup-closed', 'This server accepts new users only through an invitation: sign up with its invitation token.');
  }
  const { organizationId } = await insertOrganization(trx, {
    name: `${input.name}'s organization`,
    apiVersion: newestVersion,
    applicationDescription: 'Created with the organization.',
  });
  return { organizationId, role: 'owner' };
}

function loggedIn<S extends 200 | 201>(ctx: Context, config: Config, user: store.UserRow, session: NewSession, status: S) {
  const now = nowIso();
  return {
    status,
    headers: { 'Set-Cookie': sessionCookies(ctx, session, config.identity.sessionAbsoluteMs) },
    body: {
      object: 'login' as const,
      user: store.toUser(user),
      session: {
        id: session.id,
        object: 'session' as const,
        current: true,
        ip: clientOf(ctx).ip,
        userAgent: clientOf(ctx).userAgent?.slice(0, 500) ?? null,
        lastSeenAt: now,
        idleExpiresAt: new Date(Date.parse(now) + config.identity.sessionIdleMs).toISOString(),
        absoluteExpiresAt: new Date(Date.parse(now) + config.identity.sessionAbsoluteMs).toISOString(),
        revokedAt: null,
        createdAt: now,
        updatedAt: now,
      },
      csrfToken: session.csrfToken,
    },
  };
}

/**
 * Signing up and logging in hash a password (tens of milliseconds): that happens outside any
 * transaction, so SQLite's one writer is never held for it.
 */
export function userHandlers(config: Config, limiter: LoginLimiter, newestVersion: string) {
  prepareDecoyPassword();
  return defineHandlers({
    signUp: ownTransaction<'signUp'>(async ({ db, body, ctx, audit }) => {
      const passwordHash = await hashPassword(body.password);
      const lifetimes = sessionLifetimes(config);
      const { user, session } = await db.transaction(async (trx) => {
        // Two first sign-ups at once: one owner, not two.
        if (isPostgres(trx)) await trx.raw('lock table users in share row exclusive mode');
        const place = await placeNewUser(trx, config, newestVersion, body);
        const user = await store.insertUser(trx, { email: body.email, name: body.name, passwordHash });
        await store.addMembership(trx, place.organizationId, user.id, place.role);
        if (place.invitationId) await acceptInvitationRow(trx, place.invitationId, user.id);
        const session = await insertSession(trx, user.id, clientOf(ctx), lifetimes);
        audit.describe({ organizationId: place.organizationId, actor: { type: 'session', id: session.id, userId: user.id }, resourceId: user.id });
        await audit.record(trx, { ...store.toUser(user), organizationId: place.organizationId, role: place.role }, 201);
        return { user, session };
      });
      await revokeSessionByToken(db, sessionTokenOf(ctx));
      return loggedIn(ctx, config, user, session, 201);
    }),

    logIn: ownTransaction<'logIn'>(async ({ db, body, ctx, audit }) => {
      const account = store.normalizeEmail(body.email);
      await limiter.assertOpen(account, ctx.ip);
      const user = await store.findUserByEmail(db, account);
      const valid = await verifyPassword(body.password, user?.password_hash);
      if (!user || !valid || user.disabled_at) {
        await limiter.failed(account, ctx.ip);
        throw invalidCredentials();
      }
      await limiter.succeeded(account);
      if (needsRehash(user.password_hash)) {
        await db('users')
          .where({ id: user.id })
          .update({ password_hash: await hashPassword(body.password), updated_at: nowIso() });
      }
      // A session cookie the client brought is never carried over: the new session has new secrets (session fixation).
      await revokeSessionByToken(db, sessionTokenOf(ctx));
      const session = await db.transaction(async (trx) => {
        const created = await insertSession(trx, user.id, clientOf(ctx), sessionLifetimes(config));
        // A login belongs to the person, not to one of their organizations: the installation's chain.
        audit.describe({ organizationId: null, actor: { type: 'session', id: created.id, userId: user.id }, resourceId: created.id });
        await audit.record(trx, { id: created.id, object: 'session', userId: user.id, email: user.email }, 200);
        return created;
      });
      return loggedIn(ctx, config, user, session, 200);
    }),

    logOut: async ({ db, user, ctx, audit }) => {
      audit.describe({ organizationId: null, resourceId: user!.credentialId });
      await store.revokeSession(db, user!.userId, user!.credentialId);
      return { status: 204, body: undefined, headers: { 'Set-Cookie': clearedSessionCookies(ctx) } };
    },

    getMe: async ({ db, user }) => {
      const me = user!;
      const row = await store.getUser(db, me.userId);
      return {
        status: 200,
        body: {
          ...store.toUser(row),
          memberships: await store.membershipsOf(db, me.userId),
          credential: {
            type: me.kind,
            id: me.credentialId,
            organizationId: me.organizationId,
            scopes: me.organizationId ? me.scopes : [],
          },
        },
      };
    },

    listSessions: async ({ db, user, query }) => ({
      status: 200,
      body: await store.listSessions(db, user!.userId, user!.kind === 'session' ? user!.credentialId : null, query),
    }),

    revokeSession: async ({ db, user, path, audit }) => {
      audit.describe({ organizationId: null });
      // Another user's session, like one already ended, is not found.
      if (!(await store.revokeSession(db, user!.userId, path.sessionId))) throw new ProblemError('not-found', `No session with id ${path.sessionId}.`);
      return { status: 204, body: undefined };
    },
  });
}
