import type { AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { getAgent } from '../agents/store.js';
import { isMember } from '../members/store.js';
import * as store from './store.js';

type Links = Pick<store.Task, 'assignee' | 'parentId' | 'blockedBy'>;

const invalid = (pointer: string, detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });

/**
 * What a task names must be the tenant's (404 otherwise, as for any other tenant's resource): its
 * assignee an agent of the application or a member of the organization, its parent and blockers
 * tasks of the application. A parent or blockers that would close a cycle are 422. `current` is
 * the task being changed (null for a new one, which nothing points at yet); only what changes is checked.
 */
export async function assertLinks(db: Executor, auth: AuthContext, current: store.Task | null, next: Links): Promise<void> {
  const { assignee, parentId, blockedBy } = next;
  if (assignee && (assignee.type !== current?.assignee?.type || assignee.id !== current.assignee.id)) {
    if (!assignee.id.startsWith(`${assignee.type}_`)) throw invalid('/assignee/id', `An assignee of type ${assignee.type} has an ${assignee.type}_... id.`);
    if (assignee.type === 'agent') await getAgent(db, auth.applicationId, assignee.id);
    else if (!(await isMember(db, auth.organizationId, assignee.id))) throw notFound('user', assignee.id);
  }
  const parentChanged = parentId !== null && parentId !== current?.parentId;
  const added = blockedBy.filter((id) => !current?.blockedBy.includes(id));
  const named = [...(parentChanged ? [parentId] : []), ...added];
  const existing = await store.existingTaskIds(db, auth.applicationId, named);
  const missing = named.find((id) => !existing.has(id));
  if (missing) throw notFound('task', missing);
  if (!current || (!parentChanged && !added.length)) return;
  await store.lockTaskGraph(db, auth.applicationId);
  if (parentChanged && (await store.isAncestorOrSelf(db, current.id, parentId)))
    throw invalid('/parentId', `Task ${parentId} is ${parentId === current.id ? 'the task itself' : 'one of its sub-tasks'}: it cannot be its parent.`);
  if (await store.blocksAnyOf(db, current.id, added))
    throw invalid('/blockedBy', `The task itself, or a task it blocks, cannot block it: that would make a cycle.`);
}
