import type { AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { getAgent } from '../agents/store.js';
import { isMember } from '../members/store.js';
import { getGoal } from '../goals/store.js';
import { getProject } from '../projects/store.js';
import { recordEvent } from '../webhooks/outbox.js';
import { selectRows } from '../../db/statements.js';
import { nowIso } from '../../util/time.js';
import { getTask, type Task } from './store.js';

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

/** The tables that give work to someone, and the columns that name them. */
const HOLDERS = [
  { table: 'tasks', type: 'assignee_type', id: 'assignee_id', event: 'task.updated', read: getTask },
  { table: 'goals', type: 'owner_type', id: 'owner_id', event: 'goal.updated', read: getGoal },
  { table: 'projects', type: 'lead_type', id: 'lead_id', event: 'project.updated', read: getProject },
] as const;

/**
 * Someone who can no longer be given work (a deleted agent, a person who left the organization)
 * is taken off the tasks, goals and projects of these applications that name them, each change
 * recorded like an update (`task.updated`, `goal.updated`, `project.updated`).
 */
export async function unassignEverywhere(db: Executor, scope: { applicationId: string } | { organizationId: string }, who: Assignee): Promise<void> {
  const [where, value] =
    'applicationId' in scope
      ? ['application_id = ?', scope.applicationId]
      : ['application_id in (select id from applications where organization_id = ?)', scope.organizationId];
  for (const holder of HOLDERS) {
    const rows = await selectRows<{ id: string; application_id: string }>(
      db,
      `select id, application_id from ${holder.table} where ${where} and ${holder.type} = ? and ${holder.id} = ? order by id`,
      [value, who.type, who.id],
    );
    for (const row of rows) {
      await db(holder.table)
        .where({ id: row.id })
        .update({ [holder.type]: null, [holder.id]: null, updated_at: nowIso() });
      await recordEvent(db, row.application_id, holder.event, await holder.read(db, row.application_id, row.id));
    }
  }
}
