import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { displayPrefix, generateSecret, hashSecret } from '../../auth/keys.js';
import { PERSONAL_TOKEN_PREFIX } from '../../auth/personal-tokens.js';
import { columnsOf, getRow, listPage, whereCredentialStatus, type PageQuery, type ReadOptions } from '../../db/lists.js';
import type { Scope } from '../../spec/operations.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

export type PersonalToken = components['schemas']['PersonalToken'];
export type PersonalTokenWithSecret = components['schemas']['PersonalTokenWithSecret'];

type TokenRow = {
  id: string;
  user_id: string;
  organization_id: string;
  name: string;
  scopes: string;
  prefix: string;
  expires_at: string;
  last_used_at: string | null;
  last_used_ip: string | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<TokenRow>({
  id: true,
  user_id: true,
  organization_id: true,
  name: true,
  scopes: true,
  prefix: true,
  expires_at: true,
  last_used_at: true,
  last_used_ip: true,
  revoked_at: true,
  created_at: true,
  updated_at: true,
});

function toPersonalToken(row: TokenRow): PersonalToken {
  return {
    id: row.id,
    object: 'personal_token',
    organizationId: row.organization_id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as Scope[],
    prefix: row.prefix,
    status: row.revoked_at ? 'revoked' : row.expires_at <= nowIso() ? 'expired' : 'active',
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    lastUsedIp: row.last_used_ip,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function insertPersonalToken(
  db: Executor,
  owner: { userId: string; organizationId: string },
  input: { name: string; scopes: Scope[]; expiresAt: string },
): Promise<PersonalTokenWithSecret> {
  const secret = generateSecret(PERSONAL_TOKEN_PREFIX);
  const now = nowIso();
  const row = {
    id: newId('pat'),
    user_id: owner.userId,
    organization_id: owner.organizationId,
    name: input.name,
    scopes: JSON.stringify([...new Set(input.scopes)]),
    prefix: displayPrefix(secret),
    secret_hash: hashSecret(secret),
    expires_at: new Date(input.expiresAt).toISOString(),
    last_used_at: null,
    last_used_ip: null,
    revoked_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('personal_tokens').insert(row);
  return { ...toPersonalToken(row), secret };
}

/** A token of this user's, whatever its organization; another user's is not found. */
export const getPersonalToken = async (db: Executor, userId: string, id: string, options: ReadOptions = {}) =>
  toPersonalToken(await getRow<TokenRow>(db, 'personal_tokens', { id, user_id: userId }, 'personal token', options, COLUMNS));

export function listPersonalTokens(db: Executor, userId: string, params: PageQuery & { status?: PersonalToken['status']; organizationId?: string }) {
  const query = db('personal_tokens').where({ user_id: userId }).select(COLUMNS);
  if (params.organizationId) query.where({ organization_id: params.organizationId });
  whereCredentialStatus(query, params.status, nowIso());
  return listPage(query, params, { createdAt: 'created_at', name: { text: 'name' } }, toPersonalToken);
}

export async function revokePersonalToken(db: Executor, id: string): Promise<void> {
  const now = nowIso();
  await db('personal_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: now, updated_at: now });
}
