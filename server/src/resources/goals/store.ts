import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { progressOf } from '../tasks/progress.js';
import type { GoalStatus } from './state-machine.js';

export type Goal = components['schemas']['Goal'];
export type GoalFields = Pick<Goal, 'title' | 'description' | 'status' | 'owner' | 'parentId' | 'targetDate' | 'metadata'>;

type GoalRow = {
  id: string;
  application_id: string;
  title: string;
  description: string | null;
  status: GoalStatus;
  owner_type: 'agent' | 'user' | null;
  owner_id: string | null;
  parent_id: string | null;
  target_date: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<GoalRow>({
  id: true,
  application_id: true,
  title: true,
  description: true,
  status: true,
  owner_type: true,
  owner_id: true,
  parent_id: true,
  target_date: true,
  metadata: true,
  created_at: true,
  updated_at: true,
});

const toGoal = (row: GoalRow, progress: Goal['progress']): Goal => ({
  id: row.id,
  object: 'goal',
  applicationId: row.application_id,
  title: row.title,
  description: row.description,
  status: row.status,
  owner: row.owner_type && row.owner_id ? { type: row.owner_type, id: row.owner_id } : null,
  parentId: row.parent_id,
  targetDate: row.target_date,
  metadata: fromJsonColumn<Record<string, string>>(row.metadata, {}),
  progress,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function getGoal(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Goal> {
  const row = await getRow<GoalRow>(db, 'goals', { id, application_id: applicationId }, 'goal', options, COLUMNS);
  return toGoal(row, (await progressOf(db, 'goal', [id])).get(id)!);
}

/** 404 unless the application has this goal (read without its roll-up). */
export async function assertGoalExists(db: Executor, applicationId: string, id: string): Promise<void> {
  await getRow(db, 'goals', { id, application_id: applicationId }, 'goal', {}, ['id']);
}

export async function listGoals(db: Executor, applicationId: string, filters: PageQuery & { status?: GoalStatus; parentId?: string; owner?: string }) {
  const query = db('goals').where({ application_id: applicationId }).select(COLUMNS);
  if (filters.status) query.where({ status: filters.status });
  if (filters.parentId === 'none') query.whereNull('parent_id');
  else if (filters.parentId) query.where({ parent_id: filters.parentId });
  if (filters.owner) query.where({ owner_id: filters.owner });
  const page = await listPage<GoalRow, GoalRow>(
    query,
    filters,
    { createdAt: 'created_at', updatedAt: 'updated_at', title: { text: 'title' }, targetDate: { nullsLast: 'target_date' } },
    (row) => row,
  );
  const progress = await progressOf(
    db,
    'goal',
    page.data.map((row) => row.id),
  );
  return { ...page, data: page.data.map((row) => toGoal(row, progress.get(row.id)!)) };
}

const fieldColumns = (fields: GoalFields) => ({
  title: fields.title,
  description: fields.description,
  status: fields.status,
  owner_type: fields.owner?.type ?? null,
  owner_id: fields.owner?.id ?? null,
  parent_id: fields.parentId,
  target_date: fields.targetDate,
  metadata: toJsonColumn(fields.metadata),
});

export async function insertGoal(db: Executor, applicationId: string, fields: GoalFields): Promise<string> {
  const now = nowIso();
  const id = newId('goal');
  await db('goals').insert({ id, application_id: applicationId, ...fieldColumns(fields), created_at: now, updated_at: now });
  return id;
}

export async function updateGoal(db: Executor, id: string, fields: GoalFields): Promise<void> {
  await db('goals')
    .where({ id })
    .update({ ...fieldColumns(fields), updated_at: nowIso() });
}

export async function deleteGoal(db: Executor, id: string): Promise<void> {
  await db('goals').where({ id }).delete();
}
