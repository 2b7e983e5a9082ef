import { assertMayTouchOwners, personOf, type AuthContext } from '../../auth/identity.js';
import { hasScope } from '../../auth/roles.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { defineHandlers } from '../handler-types.js';
import * as store from './store.js';
import { unassignEverywhere } from '../tasks/assignees.js';

/** The last owner stays: an organization without one could never be administered again by a person. */
async function assertNotLastOwner(db: Executor, organizationId: string, member: store.Member, change: string): Promise<void> {
  if (member.role === 'owner' && (await store.ownerCount(db, organizationId)) <= 1) {
    throw new ProblemError('conflict', `${member.email} is the organization's last owner and cannot ${change}: make another member an owner first.`);
  }
}

const isSelf = (auth: AuthContext, userId: string) => personOf(auth)?.userId === userId;

export const memberHandlers = defineHandlers({
  listMembers: async ({ db, auth, query }) => ({ status: 200, body: await store.listMembers(db, auth.organizationId, query) }),

  getMember: async ({ db, auth, path }) => ({ status: 200, body: await store.getMember(db, auth.organizationId, path.userId) }),

  updateMember: async ({ db, auth, path, body, checkIfMatch }) => {
    const current = await store.getMember(db, auth.organizationId, path.userId);
    checkIfMatch(current);
    const { role } = mergePatch({ role: current.role }, body);
    if (role !== current.role) {
      assertMayTouchOwners(auth, current.role, role);
      await assertNotLastOwner(db, auth.organizationId, current, 'stop being one');
      await store.setRole(db, auth.organizationId, current.id, role);
    }
    return { status: 200, body: await store.getMember(db, auth.organizationId, current.id) };
  },

  // Anyone may leave; removing someone else takes the admin scope (and an owner, for an owner).
  removeMember: async ({ db, auth, path, checkIfMatch }) => {
    const current = await store.getMember(db, auth.organizationId, path.userId);
    checkIfMatch(current);
    if (!isSelf(auth, current.id)) {
      if (!hasScope(auth.scopes, 'admin')) throw new ProblemError('forbidden', 'Removing another member needs the "admin" scope.');
      assertMayTouchOwners(auth, current.role);
    }
    await assertNotLastOwner(db, auth.organizationId, current, 'leave');
    await unassignEverywhere(db, { organizationId: auth.organizationId }, { type: 'user', id: current.id });
    await store.removeMembership(db, auth.organizationId, current.id);
    return { status: 204, body: undefined };
  },
});
