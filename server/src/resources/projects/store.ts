import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { progressOf } from '../tasks/progress.js';
import type { ProjectStatus } from './state-machine.js';

export type Project = components['schemas']['Project'];
export type ProjectFields = Pick<Project, 'name' | 'description' | 'status' | 'lead' | 'goalId' | 'targetDate' | 'metadata'>;

type ProjectRow = {
  id: string;
  application_id: string;
  name: string;
  description: string | null;
  status: ProjectStatus;
  lead_type: 'agent' | 'user' | null;
  lead_id: string | null;
  goal_id: string | null;
  target_date: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<ProjectRow>({
  id: true,
  application_id: true,
  name: true,
  description: true,
  status: true,
  lead_type: true,
  lead_id: true,
  goal_id: true,
  target_date: true,
  metadata: true,
  created_at: true,
  updated_at: true,
});

const toProject = (row: ProjectRow, progress: Project['progress']): Project => ({
  id: row.id,
  object: 'project',
  applicationId: row.application_id,
  name: row.name,
  description: row.description,
  status: row.status,
  lead: row.lead_type && row.lead_id ? { type: row.lead_type, id: row.lead_id } : null,
  goalId: row.goal_id,
  targetDate: row.target_date,
  metadata: fromJsonColumn<Record<string, string>>(row.metadata, {}),
  progress,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function getProject(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Project> {
  const row = await getRow<ProjectRow>(db, 'projects', { id, application_id: applicationId }, 'project', options, COLUMNS);
  return toProject(row, (await progressOf(db, 'project', [id])).get(id)!);
}

/** 404 unless the application has this project (read without its roll-up). */
export async function assertProjectExists(db: Executor, applicationId: string, id: string): Promise<void> {
  await getRow(db, 'projects', { id, application_id: applicationId }, 'project', {}, ['id']);
}

export async function listProjects(db: Executor, applicationId: string, filters: PageQuery & { status?: ProjectStatus; goalId?: string; lead?: string }) {
  const query = db('projects').where({ application_id: applicationId }).select(COLUMNS);
  if (filters.status) query.where({ status: filters.status });
  if (filters.goalId) query.where({ goal_id: filters.goalId });
  if (filters.lead) query.where({ lead_id: filters.lead });
  const page = await listPage<ProjectRow, ProjectRow>(
    query,
    filters,
    { createdAt: 'created_at', updatedAt: 'updated_at', name: { text: 'name' }, targetDate: { nullsLast: 'target_date' } },
    (row) => row,
  );
  const progress = await progressOf(
    db,
    'project',
    page.data.map((row) => row.id),
  );
  return { ...page, data: page.data.map((row) => toProject(row, progress.get(row.id)!)) };
}

const fieldColumns = (fields: ProjectFields) => ({
  name: fields.name,
  description: fields.description,
  status: fields.status,
  lead_type: fields.lead?.type ?? null,
  lead_id: fields.lead?.id ?? null,
  goal_id: fields.goalId,
  target_date: fields.targetDate,
  metadata: toJsonColumn(fields.metadata),
});

export async function insertProject(db: Executor, applicationId: string, fields: ProjectFields): Promise<string> {
  const now = nowIso();
  const id = newId('proj');
  await db('projects').insert({ id, application_id: applicationId, ...fieldColumns(fields), created_at: now, updated_at: now });
  return id;
}

export async function updateProject(db: Executor, id: string, fields: ProjectFields): Promise<void> {
  await db('projects')
    .where({ id })
    .update({ ...fieldColumns(fields), updated_at: nowIso() });
}

export async function deleteProject(db: Executor, id: string): Promise<void> {
  await db('projects').where({ id }).delete();
}
