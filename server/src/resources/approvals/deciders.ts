import { personOf, type AuthContext } from '../../auth/identity.js';
import { ProblemError } from '../../problems/problems.js';
import type { Approval, ApprovalActor, DeciderMatch } from './store.js';

/** The principal a decision or a comment is recorded under. */
export function actorOf(auth: AuthContext): ApprovalActor {
  const person = personOf(auth);
  if (person) return { type: 'user', id: person.userId };
  if (auth.kind === 'application_key') return { type: 'api_key', id: auth.keyId };
  if (auth.kind === 'end_user_token') return { type: 'end_user', id: auth.endUserId! };
  throw new ProblemError('forbidden', 'A run cannot decide or comment on approvals: only people and application keys do.');
}

/** What the caller may decide: owners, admins and keys everything; a member what names them, their role or nobody; an end-user what names the end-user. */
export function deciderMatch(auth: AuthContext): DeciderMatch {
  if (auth.kind === 'end_user_token') return { everything: false, roles: [], endUser: true };
  const person = personOf(auth);
  if (!person || person.role === 'owner' || person.role === 'admin') return { everything: true };
  return { everything: false, userId: person.userId, roles: person.role === 'member' ? ['member'] : [], endUser: false };
}

/** Whether the caller may decide the approval (its inbox holds it): the rule the inbox's query states in SQL (store.ts, listDecidable). */
export function mayDecide(auth: AuthContext, approval: Pick<Approval, 'assignees'>): boolean {
  const match = deciderMatch(auth);
  if (match.everything) return true;
  const named = approval.assignees.some(
    (a) => (a.type === 'user' && a.userId === match.userId) || (a.type === 'role' && match.roles.includes(a.role)) || (a.type === 'end_user' && match.endUser),
  );
  return named || (!approval.assignees.length && !match.endUser);
}

export function assertMayDecide(auth: AuthContext, approval: Approval): void {
  if (mayDecide(auth, approval)) return;
  throw new ProblemError(
    'forbidden',
    `Approval ${approval.id} is assigned to others: ${approval.assignees.map((a) => (a.type === 'user' ? a.userId : a.type === 'role' ? `role ${a.role}` : 'the end-user')).join(', ')}.`,
  );
}
