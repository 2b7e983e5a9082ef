import type { components } from '../../generated/openapi.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { columnsOf, listPage, type PageQuery } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import type { Role } from '../../auth/roles.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

export type User = components['schemas']['User'];
export type Session = components['schemas']['Session'];
type Membership = components['schemas']['Membership'];

export type UserRow = {
  id: string;
  email: string;
  email_normalized: string;
  name: string;
  password_hash: string;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
};
const USER_COLUMNS = columnsOf<UserRow>({
  id: true,
  email: true,
  email_normalized: true,
  name: true,
  password_hash: true,
  disabled_at: true,
  created_at: true,
  updated_at: true,
});

/** One account per address, whatever its case. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export const toUser = (row: UserRow): User => ({
  id: row.id,
  object: 'user',
  email: row.email,
  name: row.name,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const findUserByEmail = (db: Executor, email: string) =>
  db('users')
    .where({ email_normalized: normalizeEmail(email) })
    .first<UserRow | undefined>(USER_COLUMNS);

export async function getUser(db: Executor, id: string): Promise<UserRow> {
  const row = await db('users').where({ id }).first<UserRow | undefined>(USER_COLUMNS);
  if (!row) throw new ProblemError('not-found', `No user with id ${id}.`);
  return row;
}

export const emailTaken = () => new ProblemError('email-taken', 'An account with this email exists already: log in instead.');

/** The new user; 409 when the address has an account (checked again by the unique index, in a savepoint, against a concurrent sign-up). */
export async function insertUser(db: Executor, input: { email: string; name: string; passwordHash: string }): Promise<UserRow> {
  const now = nowIso();
  const row: UserRow = {
    id: newId('user'),
    email: input.email.trim(),
    email_normalized: normalizeEmail(input.email),
    name: input.name,
    password_hash: input.passwordHash,
    disabled_at: null,
    created_at: now,
    updated_at: now,
  };
  if (await findUserByEmail(db, input.email)) throw emailTaken();
  try {
    await db.transaction((sp) => sp('users').insert(row));
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken();
    throw err;
  }
  return row;
}

export async function addMembership(db: Executor, organizationId: string, userId: string, role: Role): Promise<void> {
  const now = nowIso();
  await db('memberships').insert({ organization_id: organizationId, user_id: userId, role, created_at: now, updated_at: now });
}

export async function membershipsOf(db: Executor, userId: string): Promise<Membership[]> {
  const rows = await db('memberships')
    .join('organizations', 'organizations.id', 'memberships.organization_id')
    .where('memberships.user_id', userId)
    .orderBy('memberships.created_at')
    .limit(100)
    .select<{ organization_id: string; name: string; role: Role; created_at: string }[]>(
      'memberships.organization_id',
      'organizations.name',
      'memberships.role',
      'memberships.created_at',
    );
  return rows.map((r) => ({ organizationId: r.organization_id, organizationName: r.name, role: r.role, createdAt: r.created_at }));
}

type SessionRow = {
  id: string;
  ip: string | null;
  user_agent: string | null;
  last_seen_at: string;
  idle_expires_at: string;
  absolute_expires_at: string;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
};
const SESSION_COLUMNS = columnsOf<SessionRow>({
  id: true,
  ip: true,
  user_agent: true,
  last_seen_at: true,
  idle_expires_at: true,
  absolute_expires_at: true,
  revoked_at: true,
  created_at: true,
  updated_at: true,
});

const toSession =
  (currentId: string | null) =>
  (row: SessionRow): Session => ({
    id: row.id,
    object: 'session',
    current: row.id === currentId,
    ip: row.ip,
    userAgent: row.user_agent,
    lastSeenAt: row.last_seen_at,
    idleExpiresAt: row.idle_expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });

export async function getSession(db: Executor, userId: string, id: string, currentId: string | null): Promise<Session> {
  const row = await db('sessions').where({ id, user_id: userId }).first<SessionRow | undefined>(SESSION_COLUMNS);
  if (!row) throw new ProblemError('not-found', `No session with id ${id}.`);
  return toSession(currentId)(row);
}

/** The user's live sessions (not revoked, not expired), newest first. */
export function listSessions(db: Executor, userId: string, currentId: string | null, params: PageQuery) {
  const now = nowIso();
  const query = db('sessions')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .where('idle_expires_at', '>', now)
    .where('absolute_expires_at', '>', now)
    .select(SESSION_COLUMNS);
  return listPage(query, params, { createdAt: 'created_at', lastSeenAt: 'last_seen_at' }, toSession(currentId));
}

export async function revokeSession(db: Executor, userId: string, id: string): Promise<boolean> {
  const now = nowIso();
  const changed = await db('sessions').where({ id, user_id: userId }).whereNull('revoked_at').update({ revoked_at: now, updated_at: now });
  return changed > 0;
}
