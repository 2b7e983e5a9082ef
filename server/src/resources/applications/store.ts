import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { containsPattern, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

export type Application = components['schemas']['Application'];
type ApplicationRow = { id: string; organization_id: string; name: string; description: string | null; created_at: string; updated_at: string };

const toApplication = (row: ApplicationRow): Application => ({
  id: row.id,
  object: 'application',
  name: row.name,
  description: row.description,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function insertApplication(db: Executor, organizationId: string, input: { name: string; description?: string | null }): Promise<Application> {
  const now = nowIso();
  const row: ApplicationRow = {
    id: newId('app'),
    organization_id: organizationId,
    name: input.name,
    description: input.description ?? null,
    created_at: now,
    updated_at: now,
  };
  await db('applications').insert(row);
  return toApplication(row);
}

export async function getApplication(db: Executor, organizationId: string, id: string, options: ReadOptions = {}): Promise<Application> {
  return toApplication(await getRow<ApplicationRow>(db, 'applications', { id, organization_id: organizationId }, 'application', options));
}

export function listApplications(db: Executor, organizationId: string, params: PageQuery & { q?: string }) {
  const query = db('applications').where({ organization_id: organizationId });
  if (params.q) query.whereRaw('lower(name) like ? escape ?', [containsPattern(params.q), '\\']);
  return listPage(query, params, { createdAt: 'created_at', name: { text: 'name' } }, toApplication);
}

export async function updateApplication(db: Executor, id: string, changes: { name: string; description: string | null }): Promise<void> {
  await db('applications').where({ id }).update({ name: changes.name, description: changes.description, updated_at: nowIso() });
}

export async function deleteApplication(db: Executor, id: string): Promise<void> {
  await db('applications').where({ id }).delete();
}
