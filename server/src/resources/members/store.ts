import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { listPage, type PageQuery } from '../../db/lists.js';
import type { Role } from '../../auth/roles.js';
import { ProblemError } from '../../problems/problems.js';
import { nowIso } from '../../util/time.js';

export type Member = components['schemas']['Member'];

type MemberRow = { id: string; organization_id: string; email: string; name: string; role: Role; created_at: string; updated_at: string };

const toMember = (row: MemberRow): Member => ({
  id: row.id,
  object: 'member',
  organizationId: row.organization_id,
  email: row.email,
  name: row.name,
  role: row.role,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Members as one relation (a membership with its user), so lists sort and page on plain column names. */
const members = (db: Executor, organizationId: string) =>
  db
    .from(
      db('memberships')
        .join('users', 'users.id', 'memberships.user_id')
        .where('memberships.organization_id', organizationId)
        .select(
          'users.id as id',
          'memberships.organization_id as organization_id',
          'users.email as email',
          'users.name as name',
          'memberships.role as role',
          'memberships.created_at as created_at',
          'memberships.updated_at as updated_at',
        )
        .as('members'),
    )
    .select('*');

export async function getMember(db: Executor, organizationId: string, userId: string): Promise<Member> {
  const row = await members(db, organizationId).where({ id: userId }).first<MemberRow | undefined>();
  if (!row) throw new ProblemError('not-found', `No member with id ${userId}.`);
  return toMember(row);
}

export async function isMember(db: Executor, organizationId: string, userId: string): Promise<boolean> {
  const row = await db('memberships').where({ organization_id: organizationId, user_id: userId }).first<{ user_id: string } | undefined>('user_id');
  return row !== undefined;
}

export function listMembers(db: Executor, organizationId: string, params: PageQuery & { role?: Role }) {
  const query = members(db, organizationId);
  if (params.role) query.where({ role: params.role });
  return listPage(query, params, { createdAt: 'created_at', email: { text: 'email' } }, toMember);
}

/**
 * How many owners the organization has, its owner rows locked on PostgreSQL so that two owners
 * demoting each other at once cannot leave it with none (SQLite runs one writer at a time).
 */
export async function ownerCount(db: Executor, organizationId: string): Promise<number> {
  const query = db('memberships').where({ organization_id: organizationId, role: 'owner' }).select('user_id');
  return (await (isPostgres(db) ? query.forUpdate() : query)).length;
}

export async function setRole(db: Executor, organizationId: string, userId: string, role: Role): Promise<void> {
  await db('memberships').where({ organization_id: organizationId, user_id: userId }).update({ role, updated_at: nowIso() });
}

/** Ends the membership; the person's personal tokens for the organization are revoked with it. */
export async function removeMembership(db: Executor, organizationId: string, userId: string): Promise<void> {
  const now = nowIso();
  await db('memberships').where({ organization_id: organizationId, user_id: userId }).delete();
  await db('personal_tokens').where({ organization_id: organizationId, user_id: userId }).whereNull('revoked_at').update({ revoked_at: now, updated_at: now });
}
