import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { generateSecret, hashSecret } from '../../auth/keys.js';
import type { Role } from '../../auth/roles.js';
import { ProblemError } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

export type Invitation = components['schemas']['Invitation'];
export type InvitationWithToken = components['schemas']['InvitationWithToken'];

const INVITATION_TOKEN_PREFIX = 'sbi_';
const INVITATION_TOKEN = /^sbi_[A-Za-z0-9_-]{43}$/;

export type InvitationRow = {
  id: string;
  organization_id: string;
  email: string;
  email_normalized: string;
  role: Role;
  token_hash: string;
  invited_by_type: 'user' | 'api_key';
  invited_by_id: string;
  expires_at: string;
  accepted_at: string | null;
  accepted_by: string | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<InvitationRow>({
  id: true,
  organization_id: true,
  email: true,
  email_normalized: true,
  role: true,
  token_hash: true,
  invited_by_type: true,
  invited_by_id: true,
  expires_at: true,
  accepted_at: true,
  accepted_by: true,
  revoked_at: true,
  created_at: true,
  updated_at: true,
});

const statusOf = (row: InvitationRow, now: string): Invitation['status'] =>
  row.accepted_at ? 'accepted' : row.revoked_at ? 'revoked' : row.expires_at <= now ? 'expired' : 'pending';

export function toInvitation(row: InvitationRow): Invitation {
  return {
    id: row.id,
    object: 'invitation',
    organizationId: row.organization_id,
    email: row.email,
    role: row.role,
    status: statusOf(row, nowIso()),
    invitedBy: { type: row.invited_by_type, id: row.invited_by_id },
    expiresAt: row.expires_at,
    acceptedAt: row.accepted_at,
    acceptedBy: row.accepted_by,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function insertInvitation(
  db: Executor,
  organizationId: string,
  input: { email: string; role: Role; expiresInSeconds: number },
  invitedBy: { type: 'user' | 'api_key'; id: string },
): Promise<InvitationWithToken> {
  const token = generateSecret(INVITATION_TOKEN_PREFIX);
  const now = nowIso();
  const row: InvitationRow = {
    id: newId('inv'),
    organization_id: organizationId,
    email: input.email.trim(),
    email_normalized: input.email.trim().toLowerCase(),
    role: input.role,
    token_hash: hashSecret(token),
    invited_by_type: invitedBy.type,
    invited_by_id: invitedBy.id,
    expires_at: new Date(Date.parse(now) + input.expiresInSeconds * 1000).toISOString(),
    accepted_at: null,
    accepted_by: null,
    revoked_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('invitations').insert(row);
  return { ...toInvitation(row), token };
}

export const getInvitationRow = (db: Executor, organizationId: string, id: string, options: ReadOptions = {}) =>
  getRow<InvitationRow>(db, 'invitations', { id, organization_id: organizationId }, 'invitation', options, COLUMNS);

/** A pending invitation with this email in the organization, if any. */
export const pendingInvitationFor = (db: Executor, organizationId: string, email: string) =>
  db('invitations')
    .where({ organization_id: organizationId, email_normalized: email.trim().toLowerCase() })
    .whereNull('accepted_at')
    .whereNull('revoked_at')
    .where('expires_at', '>', nowIso())
    .first<{ id: string } | undefined>('id');

/**
 * The pending invitation a token names, locked for its acceptance. Unknown, used, revoked and
 * expired tokens are all the same 404: the token's owner learns nothing about the others.
 */
export async function pendingInvitationByToken(db: Executor, token: string): Promise<InvitationRow> {
  const unusable = new ProblemError('not-found', 'No pending invitation has this token: it is unknown, used, revoked or expired.');
  if (!INVITATION_TOKEN.test(token)) throw unusable;
  const query = db('invitations').where({ token_hash: hashSecret(token) });
  const row = await (isPostgres(db) ? query.forUpdate() : query).first<InvitationRow | undefined>(COLUMNS);
  if (!row || statusOf(row, nowIso()) !== 'pending') throw unusable;
  return row;
}

export async function acceptInvitationRow(db: Executor, id: string, userId: string): Promise<void> {
  const now = nowIso();
  await db('invitations').where({ id }).update({ accepted_at: now, accepted_by: userId, updated_at: now });
}

export async function revokeInvitationRow(db: Executor, id: string): Promise<void> {
  const now = nowIso();
  await db('invitations').where({ id }).update({ revoked_at: now, updated_at: now });
}

export function listInvitations(db: Executor, organizationId: string, params: PageQuery & { status?: Invitation['status'] }) {
  const now = nowIso();
  const query = db('invitations').where({ organization_id: organizationId }).select(COLUMNS);
  if (params.status === 'accepted') query.whereNotNull('accepted_at');
  if (params.status === 'revoked') query.whereNull('accepted_at').whereNotNull('revoked_at');
  if (params.status === 'expired') query.whereNull('accepted_at').whereNull('revoked_at').where('expires_at', '<=', now);
  if (params.status === 'pending') query.whereNull('accepted_at').whereNull('revoked_at').where('expires_at', '>', now);
  return listPage(query, params, { createdAt: 'created_at', email: { text: 'email' } }, toInvitation);
}
