import type { AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { assertGoalExists } from '../goals/store.js';
import { assertProjectExists } from '../projects/store.js';
import { assertAssignable, isNewAssignee } from './assignees.js';
import { idsInApplication } from '../../db/lists.js';
import { isAncestorOrSelf } from '../../db/trees.js';
import * as store from './store.js';

type Links = Pick<store.Task, 'assignee' | 'parentId' | 'projectId' | 'goalId' | 'blockedBy'>;

const invalid = (pointer: string, detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });

/**
 * What a task names must be the tenant's (404 otherwise, as for any other tenant's resource): its
 * assignee an agent of the application or a member of the organization, its parent and blockers
 * tasks of the application, its project and goal the application's. A parent or blockers that would close a cycle are 422. `current` is
 * the task being changed (null for a new one, which nothing points at yet); only what changes is checked.
 */
export async function assertLinks(db: Executor, auth: AuthContext, current: store.Task | null, next: Links): Promise<void> {
  const { assignee, parentId, projectId, goalId, blockedBy } = next;
  if (isNewAssignee(assignee, current?.assignee)) await assertAssignable(db, auth, assignee, '/assignee');
  if (projectId !== null && projectId !== current?.projectId) await assertProjectExists(db, auth.applicationId, projectId);
  if (goalId !== null && goalId !== current?.goalId) await assertGoalExists(db, auth.applicationId, goalId);
  const parentChanged = parentId !== null && parentId !== current?.parentId;
  const added = blockedBy.filter((id) => !current?.blockedBy.includes(id));
  const named = [...(parentChanged ? [parentId] : []), ...added];
  const existing = await idsInApplication(db, 'tasks', auth.applicationId, named);
  const missing = named.find((id) => !existing.has(id));
  if (missing) throw notFound('task', missing);
  if (!current || (!parentChanged && !added.length)) return;
  await store.lockTaskGraph(db, auth.applicationId);
  if (parentChanged && (await isAncestorOrSelf(db, 'tasks', current.id, parentId)))
    throw invalid('/parentId', `Task ${parentId} is ${parentId === current.id ? 'the task itself' : 'one of its sub-tasks'}: it cannot be its parent.`);
  if (await store.blocksAnyOf(db, current.id, added))
    throw invalid('/blockedBy', `The task itself, or a task it blocks, cannot block it: that would make a cycle.`);
}
