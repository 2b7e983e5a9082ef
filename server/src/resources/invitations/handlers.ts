import { assertMayTouchOwners, personOf, type AuthContext } from '../../auth/identity.js';
import { ProblemError } from '../../problems/problems.js';
import { etagHeaderWithout } from '../etag.js';
import { defineHandlers } from '../handler-types.js';
import { addMembership, getUser, normalizeEmail } from '../users/store.js';
import { getMember, isMember } from '../members/store.js';
import * as store from './store.js';

const DEFAULT_EXPIRY_SECONDS = 7 * 86_400;

const inviter = (auth: AuthContext): { type: 'user' | 'api_key'; id: string } => {
  const person = personOf(auth);
  return person ? { type: 'user', id: person.userId } : { type: 'api_key', id: auth.keyId! };
};

export const invitationHandlers = defineHandlers({
  listInvitations: async ({ db, auth, query }) => ({ status: 200, body: await store.listInvitations(db, auth.organizationId, query) }),

  createInvitation: async ({ db, auth, body }) => {
    assertMayTouchOwners(auth, body.role);
    const existing = await db('users')
      .where({ email_normalized: normalizeEmail(body.email) })
      .first<{ id: string } | undefined>('id');
    if (existing && (await isMember(db, auth.organizationId, existing.id))) {
      throw new ProblemError('conflict', `${body.email} is a member of the organization already.`);
    }
    if (await store.pendingInvitationFor(db, auth.organizationId, body.email)) {
      throw new ProblemError('conflict', `${body.email} has a pending invitation already: revoke it to send a new one.`);
    }
    const invitation = await store.insertInvitation(
      db,
      auth.organizationId,
      { email: body.email, role: body.role, expiresInSeconds: body.expiresInSeconds ?? DEFAULT_EXPIRY_SECONDS },
      inviter(auth),
    );
    return { status: 201, body: invitation, headers: { Location: `/api/v1/invitations/${invitation.id}`, ...etagHeaderWithout(invitation, 'token') } };
  },

  getInvitation: async ({ db, auth, path }) => ({
    status: 200,
    body: store.toInvitation(await store.getInvitationRow(db, auth.organizationId, path.invitationId)),
  }),

  revokeInvitation: async ({ db, auth, path }) => {
    const row = await store.getInvitationRow(db, auth.organizationId, path.invitationId, { forUpdate: true });
    const current = store.toInvitation(row);
    if (current.status !== 'pending') {
      throw new ProblemError('invalid-transition', `The invitation is ${current.status}; only a pending invitation can be revoked.`);
    }
    await store.revokeInvitationRow(db, row.id);
    return { status: 200, body: store.toInvitation(await store.getInvitationRow(db, auth.organizationId, row.id)) };
  },

  acceptInvitation: async ({ db, user, body }) => {
    const invitation = await store.pendingInvitationByToken(db, body.token);
    const me = await getUser(db, user!.userId);
    if (normalizeEmail(invitation.email) !== me.email_normalized) {
      throw new ProblemError('forbidden', 'This invitation is for another email address than your account.');
    }
    if (await isMember(db, invitation.organization_id, me.id)) throw new ProblemError('conflict', 'You are a member of this organization already.');
    await addMembership(db, invitation.organization_id, me.id, invitation.role);
    await store.acceptInvitationRow(db, invitation.id, me.id);
    return { status: 200, body: await getMember(db, invitation.organization_id, me.id) };
  },
});
