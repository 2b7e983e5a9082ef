import { hasScope, roleScopes } from '../../auth/roles.js';
import type { UserContext } from '../../auth/identity.js';
import { membershipOf, type Membership } from '../../auth/memberships.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { nowIso } from '../../util/time.js';
import { etagHeaderWithout } from '../etag.js';
import { defineHandlers } from '../handler-types.js';
import * as store from './store.js';

/** A token lives a year at most: a forgotten one dies on its own. */
const MAX_LIFETIME_MS = 366 * 86_400_000;

const invalid = (detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer: '/expiresAt', in: 'body', detail }] });

/**
 * The organization the token is for: the request's (X-Org-Id, already checked), else the user's only
 * one, with the same answers as any request that must name one (403 with none, 400 with several).
 */
async function organizationFor(db: Executor, user: UserContext): Promise<Membership> {
  if (user.organizationId && user.role) return { organizationId: user.organizationId, role: user.role };
  return (await membershipOf(db, user, undefined))!;
}

export const personalTokenHandlers = defineHandlers({
  listPersonalTokens: async ({ db, user, query }) => ({ status: 200, body: await store.listPersonalTokens(db, user!.userId, query) }),

  createPersonalToken: async ({ db, user, body }) => {
    const { organizationId, role } = await organizationFor(db, user!);
    const expiresMs = Date.parse(body.expiresAt);
    const nowMs = Date.parse(nowIso());
    if (expiresMs <= nowMs) throw invalid('expiresAt must be in the future.');
    if (expiresMs - nowMs > MAX_LIFETIME_MS) throw invalid('expiresAt must be at most 366 days from now: personal tokens expire within a year.');
    const allowed = roleScopes(role);
    const beyond = body.scopes.filter((s) => !hasScope(allowed, s));
    if (beyond.length) {
      throw new ProblemError(
        'forbidden',
        `Your role (${role}) allows at most the "${allowed[0]}" scope; a token cannot have ${beyond.map((s) => `"${s}"`).join(', ')}.`,
      );
    }
    const token = await store.insertPersonalToken(db, { userId: user!.userId, organizationId }, body);
    return { status: 201, body: token, headers: { Location: `/api/v1/personal-tokens/${token.id}`, ...etagHeaderWithout(token, 'secret') } };
  },

  getPersonalToken: async ({ db, user, path }) => ({ status: 200, body: await store.getPersonalToken(db, user!.userId, path.personalTokenId) }),

  revokePersonalToken: async ({ db, user, path }) => {
    const current = await store.getPersonalToken(db, user!.userId, path.personalTokenId, { forUpdate: true });
    if (current.status === 'revoked') throw new ProblemError('invalid-transition', 'The personal token is revoked already.');
    await store.revokePersonalToken(db, current.id);
    return { status: 200, body: await store.getPersonalToken(db, user!.userId, current.id) };
  },
});
