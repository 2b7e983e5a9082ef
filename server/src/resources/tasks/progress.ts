import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import type { TaskStatus } from './state-machine.js';

export type WorkProgress = components['schemas']['WorkProgress'];

const STATUSES: TaskStatus[] = ['backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled'];

/**
 * The tasks under each key, as `members (k, task_id)`: a project's are those with its project_id;
 * a goal's are those linked to it, to one of its projects, or to one of its sub-goals (or their
 * projects) at any depth, each counted once.
 */
const MEMBERS = {
  project: (keys: string) => `members (k, task_id) as (select project_id, id from tasks where project_id in (${keys}))`,
  goal: (keys: string) => `tree (root, id) as (
      select id, id from goals where id in (${keys})
      union select tree.root, g.id from goals g join tree on g.parent_id = tree.id),
    members (k, task_id) as (
      select distinct tree.root, t.id from tree join tasks t
        on t.goal_id = tree.id or t.project_id in (select p.id from projects p where p.goal_id = tree.id))`,
};

/** A task that cannot start: blocked, or waiting on an open blocker (and not itself closed). */
const STUCK = `t.status not in ('done', 'cancelled') and (t.status = 'blocked' or exists (
  select 1 from task_blockers b join tasks bt on bt.id = b.blocker_id where b.task_id = t.id and bt.status not in ('done', 'cancelled')))`;

/** The roll-up of each goal's or project's tasks, computed now in two queries for all of them. */
export async function progressOf(db: Executor, kind: keyof typeof MEMBERS, ids: string[]): Promise<Map<string, WorkProgress>> {
  const found = new Map<string, WorkProgress>(
    ids.map((id) => [
      id,
      { tasks: Object.fromEntries(STATUSES.map((s) => [s, 0])) as WorkProgress['tasks'], total: 0, percentDone: null, blocked: 0, lastActivityAt: null },
    ]),
  );
  if (!ids.length) return found;
  const keys = ids.map(() => '?').join(', ');
  const counts = await selectRows<{ k: string; status: TaskStatus; n: number | string; last: string | null }>(
    db,
    `with recursive ${MEMBERS[kind](keys)}
     select m.k, t.status, count(*) as n, max(t.updated_at) as last from members m join tasks t on t.id = m.task_id group by m.k, t.status`,
    ids,
  );
  for (const row of counts) {
    const progress = found.get(row.k)!;
    progress.tasks[row.status] = Number(row.n);
    progress.total += Number(row.n);
    if (row.last !== null && (progress.lastActivityAt === null || row.last > progress.lastActivityAt)) progress.lastActivityAt = row.last;
  }
  const stuck = await selectRows<{ k: string; n: number | string }>(
    db,
    `with recursive ${MEMBERS[kind](keys)}
     select m.k, count(*) as n from members m join tasks t on t.id = m.task_id where ${STUCK} group by m.k`,
    ids,
  );
  for (const row of stuck) found.get(row.k)!.blocked = Number(row.n);
  for (const progress of found.values()) {
    const counted = progress.total - progress.tasks.cancelled;
    progress.percentDone = counted > 0 ? Math.floor((progress.tasks.done * 100) / counted) : null;
  }
  return found;
}
