import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { insertRows, selectRows, writerRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { searchTerms, whereMatches } from './search.js';
import { isOpen, type TaskStatus } from './state-machine.js';

export type Task = components['schemas']['Task'];
export type TaskActor = components['schemas']['TaskActor'];
type Metadata = Record<string, string>;

type TaskRow = {
  id: string;
  application_id: string;
  number: number | string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: Task['priority'];
  labels: string;
  assignee_type: 'agent' | 'user' | null;
  assignee_id: string | null;
  parent_id: string | null;
  project_id: string | null;
  goal_id: string | null;
  due_at: string | null;
  metadata: string;
  created_by_type: TaskActor['type'];
  created_by_id: string;
  started_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  checkout_run_id: string | null;
  checkout_fencing: number | string | null;
  checked_out_at: string | null;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<TaskRow>({
  id: true,
  application_id: true,
  number: true,
  title: true,
  description: true,
  status: true,
  priority: true,
  labels: true,
  assignee_type: true,
  assignee_id: true,
  parent_id: true,
  project_id: true,
  goal_id: true,
  due_at: true,
  metadata: true,
  created_by_type: true,
  created_by_id: true,
  started_at: true,
  completed_at: true,
  cancelled_at: true,
  checkout_run_id: true,
  checkout_fencing: true,
  checked_out_at: true,
  created_at: true,
  updated_at: true,
});

/** Sorting by priority lists the most urgent first. */
const PRIORITY_RANK: Record<Task['priority'], number> = { urgent: 0, high: 1, medium: 2, low: 3 };

const toTask = (row: TaskRow, blockedBy: string[]): Task => ({
  id: row.id,
  object: 'task',
  applicationId: row.application_id,
  number: Number(row.number),
  title: row.title,
  description: row.description,
  status: row.status,
  priority: row.priority,
  labels: fromJsonColumn<string[]>(row.labels, []),
  assignee: row.assignee_type && row.assignee_id ? { type: row.assignee_type, id: row.assignee_id } : null,
  parentId: row.parent_id,
  projectId: row.project_id,
  goalId: row.goal_id,
  blockedBy,
  checkout: row.checkout_run_id === null ? null : { runId: row.checkout_run_id, fencingToken: Number(row.checkout_fencing), checkedOutAt: row.checked_out_at! },
  dueAt: row.due_at,
  metadata: fromJsonColumn<Metadata>(row.metadata, {}),
  createdBy: { type: row.created_by_type, id: row.created_by_id },
  startedAt: row.started_at,
  completedAt: row.completed_at,
  cancelledAt: row.cancelled_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The blockers of each of the tasks, in id order, read in one query. */
async function blockersOf(db: Executor, taskIds: string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>(taskIds.map((id) => [id, []]));
  if (!taskIds.length) return found;
  const rows = await selectRows<{ task_id: string; blocker_id: string }>(
    db,
    `select task_id, blocker_id from task_blockers where task_id in (${taskIds.map(() => '?').join(', ')}) order by blocker_id`,
    taskIds,
  );
  for (const row of rows) found.get(row.task_id)!.push(row.blocker_id);
  return found;
}

export async function getTask(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Task> {
  const row = await getRow<TaskRow>(db, 'tasks', { id, application_id: applicationId }, 'task', options, COLUMNS);
  return toTask(row, (await blockersOf(db, [id])).get(id)!);
}

export type TaskFilters = PageQuery & {
  status?: string;
  priority?: Task['priority'];
  assignee?: string;
  label?: string;
  parentId?: string;
  projectId?: string;
  goalId?: string;
  blockedBy?: string;
  dueBefore?: string;
  q?: string;
};

export async function listTasks(db: Executor, applicationId: string, filters: TaskFilters) {
  const query = db('tasks')
    .where('tasks.application_id', applicationId)
    .select(COLUMNS.map((c) => `tasks.${c}`));
  if (filters.status) query.whereIn('tasks.status', filters.status.split(','));
  if (filters.priority) query.where('tasks.priority', filters.priority);
  if (filters.assignee === 'none') query.whereNull('tasks.assignee_id');
  else if (filters.assignee) query.where('tasks.assignee_id', filters.assignee);
  if (filters.parentId === 'none') query.whereNull('tasks.parent_id');
  else if (filters.parentId) query.where('tasks.parent_id', filters.parentId);
  if (filters.projectId === 'none') query.whereNull('tasks.project_id');
  else if (filters.projectId) query.where('tasks.project_id', filters.projectId);
  if (filters.goalId === 'none') query.whereNull('tasks.goal_id');
  else if (filters.goalId) query.where('tasks.goal_id', filters.goalId);
  if (filters.label) query.whereRaw('exists (select 1 from task_labels l where l.task_id = tasks.id and l.label = ?)', [filters.label]);
  if (filters.blockedBy) query.whereRaw('exists (select 1 from task_blockers b where b.task_id = tasks.id and b.blocker_id = ?)', [filters.blockedBy]);
  if (filters.dueBefore) query.where('tasks.due_at', '<', new Date(filters.dueBefore).toISOString());
  if (filters.q) whereMatches(query, db, searchTerms(filters.q));
  const page = await listPage<TaskRow, TaskRow>(
    query,
    filters,
    {
      createdAt: 'tasks.created_at',
      updatedAt: 'tasks.updated_at',
      number: 'tasks.number',
      priority: 'tasks.priority_rank',
      dueAt: { nullsLast: 'tasks.due_at' },
    },
    (row) => row,
    'tasks.id',
  );
  const blockers = await blockersOf(
    db,
    page.data.map((row) => row.id),
  );
  return { ...page, data: page.data.map((row) => toTask(row, blockers.get(row.id)!)) };
}

/** The fields a client writes (the status moves by transitions; the number and the author are the server's). */
export type TaskFields = Pick<Task, 'title' | 'description' | 'priority' | 'labels' | 'assignee' | 'parentId' | 'projectId' | 'goalId' | 'dueAt' | 'metadata'>;

const fieldColumns = (fields: TaskFields) => ({
  title: fields.title,
  description: fields.description,
  priority: fields.priority,
  priority_rank: PRIORITY_RANK[fields.priority],
  labels: toJsonColumn(fields.labels),
  assignee_type: fields.assignee?.type ?? null,
  assignee_id: fields.assignee?.id ?? null,
  parent_id: fields.parentId,
  project_id: fields.projectId,
  goal_id: fields.goalId,
  due_at: fields.dueAt === null ? null : new Date(fields.dueAt).toISOString(),
  metadata: toJsonColumn(fields.metadata),
});

/** The application's next task number: its counter row, created with the first task, is incremented under the row's lock. */
async function nextNumber(db: Executor, applicationId: string): Promise<number> {
  const [row] = await writerRows<{ last_number: number | string }>(
    db,
    'insert into task_counters (application_id, last_number) values (?, 1) on conflict (application_id) do update set last_number = task_counters.last_number + 1 returning last_number',
    [applicationId],
  );
  return Number(row!.last_number);
}

/**
 * Serialises the changes to an application's graph of parents and blockers, so two that would
 * together close a cycle cannot both pass its check (SQLite serialises whole transactions already).
 */
export async function lockTaskGraph(db: Executor, applicationId: string): Promise<void> {
  if (isPostgres(db)) await writerRows(db, 'select last_number from task_counters where application_id = ? for update', [applicationId]);
}

export async function insertTask(
  db: Executor,
  applicationId: string,
  fields: TaskFields & { status: 'backlog' | 'todo'; blockedBy: string[] },
  createdBy: TaskActor,
): Promise<string> {
  const now = nowIso();
  const id = newId('task');
  await db('tasks').insert({
    id,
    application_id: applicationId,
    number: await nextNumber(db, applicationId),
    status: fields.status,
    ...fieldColumns(fields),
    created_by_type: createdBy.type,
    created_by_id: createdBy.id,
    checkout_run_id: null,
    checkout_fencing: null,
    checked_out_at: null,
    started_at: null,
    completed_at: null,
    cancelled_at: null,
    created_at: now,
    updated_at: now,
  });
  await setLabels(db, applicationId, id, fields.labels);
  await setBlockers(db, id, fields.blockedBy);
  return id;
}

export async function updateTask(db: Executor, task: Task, fields: TaskFields, blockedBy: string[]): Promise<void> {
  await db('tasks')
    .where({ id: task.id })
    .update({ ...fieldColumns(fields), updated_at: nowIso() });
  if (fields.labels.join('\n') !== task.labels.join('\n')) await setLabels(db, task.applicationId, task.id, fields.labels);
  if (blockedBy.join('\n') !== task.blockedBy.join('\n')) await setBlockers(db, task.id, blockedBy);
}

async function setLabels(db: Executor, applicationId: string, taskId: string, labels: string[]): Promise<void> {
  await db('task_labels').where({ task_id: taskId }).delete();
  if (labels.length)
    await insertRows(
      db,
      'task_labels',
      labels.map((label) => ({ task_id: taskId, application_id: applicationId, label })),
    );
}

async function setBlockers(db: Executor, taskId: string, blockerIds: string[]): Promise<void> {
  await db('task_blockers').where({ task_id: taskId }).delete();
  if (blockerIds.length)
    await insertRows(
      db,
      'task_blockers',
      blockerIds.map((blockerId) => ({ task_id: taskId, blocker_id: blockerId })),
    );
}

export type Checkout = { runId: string; fencingToken: number };

/**
 * Moves the task to `to`, stamping when it first started, was done or was cancelled (a move out
 * of done or cancelled clears that stamp). `checkout` is the run that takes it into
 * `in_progress`; any other move leaves the task without one.
 */
export async function setStatus(db: Executor, task: Task, to: TaskStatus, checkout: Checkout | null = null): Promise<void> {
  const now = nowIso();
  await db('tasks')
    .where({ id: task.id })
    .update({
      status: to,
      started_at: to === 'in_progress' ? (task.startedAt ?? now) : task.startedAt,
      completed_at: to === 'done' ? now : null,
      cancelled_at: to === 'cancelled' ? now : null,
      checkout_run_id: checkout?.runId ?? null,
      checkout_fencing: checkout?.fencingToken ?? null,
      checked_out_at: checkout ? now : null,
      updated_at: now,
    });
}

export async function deleteTask(db: Executor, id: string): Promise<void> {
  await db('tasks').where({ id }).delete();
}

/** The task's blockers that are neither done nor cancelled. */
export async function openBlockersOf(db: Executor, taskId: string): Promise<string[]> {
  const rows = await selectRows<{ id: string; status: TaskStatus }>(
    db,
    'select t.id, t.status from task_blockers b join tasks t on t.id = b.blocker_id where b.task_id = ? order by t.id',
    [taskId],
  );
  return rows.filter((r) => isOpen(r.status)).map((r) => r.id);
}

/** The blocked tasks this one blocks that have no other open blocker: closing or deleting it frees them. */
export async function freedBy(db: Executor, blockerId: string): Promise<string[]> {
  const rows = await selectRows<{ id: string }>(
    db,
    `select t.id from task_blockers b join tasks t on t.id = b.task_id
     where b.blocker_id = ? and t.status = 'blocked'
       and not exists (
         select 1 from task_blockers o join tasks ot on ot.id = o.blocker_id
         where o.task_id = t.id and o.blocker_id <> ? and ot.status not in ('done', 'cancelled'))
     order by t.id`,
    [blockerId, blockerId],
  );
  return rows.map((r) => r.id);
}

/** Whether `taskId` blocks one of `blockerIds`, directly or not (or is one): then they cannot block it. */
export async function blocksAnyOf(db: Executor, taskId: string, blockerIds: string[]): Promise<boolean> {
  if (!blockerIds.length) return false;
  const rows = await selectRows<{ id: string }>(
    db,
    `with recursive chain (id) as (
       select id from tasks where id in (${blockerIds.map(() => '?').join(', ')})
       union select b.blocker_id from task_blockers b join chain on b.task_id = chain.id)
     select id from chain where id = ?`,
    [...blockerIds, taskId],
  );
  return rows.length > 0;
}
