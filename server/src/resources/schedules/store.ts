import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { nextDue } from './cron.js';

export type Schedule = components['schemas']['Schedule'];
export type ScheduleSpec = Pick<Schedule, 'name' | 'cron' | 'timezone' | 'input' | 'metadata' | 'missedRunPolicy'>;

export type ScheduleRow = {
  id: string;
  application_id: string;
  agent_id: string;
  name: string;
  cron: string;
  timezone: string;
  input: string;
  metadata: string;
  status: Schedule['status'];
  missed_run_policy: Schedule['missedRunPolicy'];
  next_run_at: string | null;
  last_run_at: string | null;
  last_run_id: string | null;
  created_at: string;
  updated_at: string;
};

export const toSchedule = (row: ScheduleRow): Schedule => ({
  id: row.id,
  object: 'schedule',
  name: row.name,
  agentId: row.agent_id,
  cron: row.cron,
  timezone: row.timezone,
  input: fromJsonColumn(row.input, {}),
  metadata: fromJsonColumn(row.metadata, {}),
  status: row.status,
  missedRunPolicy: row.missed_run_policy,
  nextRunAt: row.next_run_at,
  lastRunAt: row.last_run_at,
  lastRunId: row.last_run_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const specColumns = (spec: ScheduleSpec) => ({
  name: spec.name,
  cron: spec.cron,
  timezone: spec.timezone,
  input: toJsonColumn(spec.input),
  metadata: toJsonColumn(spec.metadata),
  missed_run_policy: spec.missedRunPolicy,
});

/** The next due time from now for an active schedule; none while paused. */
const nextRunAt = (spec: Pick<ScheduleSpec, 'cron' | 'timezone'>, status: Schedule['status']) =>
  status === 'active' ? nextDue(spec.cron, spec.timezone, new Date(nowIso())) : null;

export async function insertSchedule(db: Executor, applicationId: string, agentId: string, spec: ScheduleSpec, status: Schedule['status']): Promise<Schedule> {
  const now = nowIso();
  const row: ScheduleRow = {
    id: newId('sched'),
    application_id: applicationId,
    agent_id: agentId,
    ...specColumns(spec),
    status,
    next_run_at: nextRunAt(spec, status),
    last_run_at: null,
    last_run_id: null,
    created_at: now,
    updated_at: now,
  };
  await db('schedules').insert(row);
  return toSchedule(row);
}

export async function getScheduleRow(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<ScheduleRow> {
  return getRow<ScheduleRow>(db, 'schedules', { id, application_id: applicationId }, 'schedule', options);
}

export function listSchedules(db: Executor, applicationId: string, filters: PageQuery & { status?: Schedule['status']; agentId?: string }) {
  const query = db('schedules').where({ application_id: applicationId });
  if (filters.status) query.where({ status: filters.status });
  if (filters.agentId) query.where({ agent_id: filters.agentId });
  return listPage(query, filters, { createdAt: 'created_at', name: { text: 'name' }, nextRunAt: { nullsLast: 'next_run_at' } }, toSchedule);
}

/** Saves a new specification; a changed cron or time zone moves the next due time. */
export async function updateSchedule(db: Executor, row: ScheduleRow, spec: ScheduleSpec): Promise<void> {
  const timing = spec.cron !== row.cron || spec.timezone !== row.timezone;
  await db('schedules')
    .where({ id: row.id })
    .update({ ...specColumns(spec), ...(timing ? { next_run_at: nextRunAt(spec, row.status) } : {}), updated_at: nowIso() });
}

export async function setScheduleStatus(db: Executor, row: ScheduleRow, status: Schedule['status']): Promise<void> {
  await db('schedules')
    .where({ id: row.id })
    .update({ status, next_run_at: nextRunAt(row, status), updated_at: nowIso() });
}

export async function deleteSchedule(db: Executor, id: string): Promise<void> {
  await db('schedules').where({ id }).delete();
}
