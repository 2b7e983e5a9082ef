import type { Executor } from '../db/database.js';
import { ProblemError } from '../problems/problems.js';
import type { UserIdentity } from './identity.js';
import type { Role } from './roles.js';

export type Membership = { organizationId: string; role: Role };

const notAMember = (orgId: string) => new ProblemError('not-found', `No organization with id ${orgId}.`);

type MembershipRow = { organization_id: string; role: Role };

/** A request's reads of its session's memberships, by the identity it authenticated (one per request). */
const readByRequest = new WeakMap<UserIdentity, Map<string, Promise<MembershipRow[]>>>();

/** At most two memberships (of X-Org-Id's organization, or any): read once per request, which asks twice (its API version, then authorise). */
function membershipRows(db: Executor, user: UserIdentity, orgHeader: string | undefined): Promise<MembershipRow[]> {
  let reads = readByRequest.get(user);
  if (!reads) readByRequest.set(user, (reads = new Map<string, Promise<MembershipRow[]>>()));
  let rows = reads.get(orgHeader ?? '');
  if (!rows) {
    const query = db('memberships').where({ user_id: user.userId });
    if (orgHeader) query.where({ organization_id: orgHeader });
    rows = query.limit(2).select<MembershipRow[]>('organization_id', 'role');
    reads.set(orgHeader ?? '', rows);
  }
  return rows;
}

/**
 * The organization a person acts in, with their role there now: a personal token's own (X-Org-Id
 * may only repeat it); for a session, the one X-Org-Id names, else the user's only one. An
 * organization they do not belong to is not found, never forbidden. `required: false` answers
 * undefined where a session leaves it open (no membership, or several and no X-Org-Id).
 */
export async function membershipOf(db: Executor, user: UserIdentity, orgHeader: string | undefined, required = true): Promise<Membership | undefined> {
  if (user.token) {
    if (orgHeader && orgHeader !== user.token.organizationId) throw notAMember(orgHeader);
    return { organizationId: user.token.organizationId, role: user.token.role };
  }
  const rows = await membershipRows(db, user, orgHeader);
  if (orgHeader && !rows.length) throw notAMember(orgHeader);
  if (rows.length === 1) return { organizationId: rows[0]!.organization_id, role: rows[0]!.role };
  if (!required) return undefined;
  if (!rows.length) throw new ProblemError('forbidden', 'You are not a member of any organization: accept an invitation first.');
  throw new ProblemError('org-id-required', 'You belong to several organizations: name the one this request acts in with the X-Org-Id header.');
}
