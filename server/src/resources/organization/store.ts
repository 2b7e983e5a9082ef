import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { notFound } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';
import { insertApplication } from '../applications/store.js';

type Organization = components['schemas']['Organization'];
type OrganizationRow = { id: string; name: string; api_version: string; audit_retention_days: number; created_at: string; updated_at: string };

const toOrganization = (row: OrganizationRow): Organization => ({
  id: row.id,
  object: 'organization',
  name: row.name,
  apiVersion: row.api_version,
  auditRetentionDays: row.audit_retention_days,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function findOrganization(db: Executor, id: string, options: { forUpdate?: boolean } = {}): Promise<Organization> {
  const query = db('organizations').where({ id });
  if (options.forUpdate && isPostgres(db)) query.forUpdate();
  const row = await query.first<OrganizationRow | undefined>();
  if (!row) throw notFound('organization', id);
  return toOrganization(row);
}

/** A new organization with its default application, pinned to `apiVersion`. */
export async function insertOrganization(
  db: Executor,
  input: { name: string; apiVersion: string; applicationDescription: string },
): Promise<{ organizationId: string; applicationId: string }> {
  const now = nowIso();
  const organizationId = newId('org');
  await db('organizations').insert({ id: organizationId, name: input.name, api_version: input.apiVersion, created_at: now, updated_at: now });
  const app = await insertApplication(db, organizationId, { name: 'Default application', description: input.applicationDescription });
  return { organizationId, applicationId: app.id };
}

export async function updateOrganization(db: Executor, id: string, changes: { name: string; apiVersion: string; auditRetentionDays: number }): Promise<void> {
  await db('organizations')
    .where({ id })
    .update({ name: changes.name, api_version: changes.apiVersion, audit_retention_days: changes.auditRetentionDays, updated_at: nowIso() });
}
