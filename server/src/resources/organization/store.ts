import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { notFound } from '../../problems/problems.js';

type Organization = components['schemas']['Organization'];
type OrganizationRow = { id: string; name: string; api_version: string; created_at: string; updated_at: string };

const toOrganization = (row: OrganizationRow): Organization => ({
  id: row.id,
  object: 'organization',
  name: row.name,
  apiVersion: row.api_version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function findOrganization(db: Executor, id: string): Promise<Organization> {
  const row = (await db('organizations').where({ id }).first()) as OrganizationRow | undefined;
  if (!row) throw notFound('organization', id);
  return toOrganization(row);
}
