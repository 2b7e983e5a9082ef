import type { AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { getAgent } from '../agents/store.js';
import { isMember } from '../members/store.js';
import type { Task } from './store.js';

export type Assignee = NonNullable<Task['assignee']>;

/**
 * Someone work can be given to (a task's assignee, a goal's owner, a project's lead): an agent of
 * the application or a member of the organization, 404 otherwise; 422 at `pointer` when the type
 * does not match the id's prefix.
 */
export async function assertAssignable(db: Executor, auth: AuthContext, who: Assignee, pointer: string): Promise<void> {
  if (!who.id.startsWith(`${who.type}_`)) {
    const detail = `Someone of type ${who.type} has an ${who.type}_... id.`;
    throw new ProblemError('validation-error', detail, { errors: [{ pointer: `${pointer}/id`, in: 'body', detail }] });
  }
  if (who.type === 'agent') await getAgent(db, auth.applicationId, who.id);
  else if (!(await isMember(db, auth.organizationId, who.id))) throw notFound('user', who.id);
}

/** Whether `next` names someone else than `previous`: only a change is checked again. */
export const isNewAssignee = (next: Assignee | null, previous: Assignee | null | undefined): next is Assignee =>
  next !== null && (next.type !== previous?.type || next.id !== previous.id);
