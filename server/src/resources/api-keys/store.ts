import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { displayPrefix, generateApplicationKey, hashSecret } from '../../auth/keys.js';
import { getRow, listPage, whereCredentialStatus, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type ApiKey = components['schemas']['ApiKey'];
export type ApiKeyWithSecret = components['schemas']['ApiKeyWithSecret'];
type Scope = ApiKey['scopes'][number];

type ApiKeyRow = {
  id: string;
  organization_id: string;
  application_id: string;
  name: string;
  scopes: string;
  allowed_models: string | null;
  api_version: string | null;
  prefix: string;
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_secret_expires_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
};

function toApiKey(row: ApiKeyRow): ApiKey {
  const now = nowIso();
  const status: ApiKey['status'] = row.revoked_at ? 'revoked' : row.expires_at && row.expires_at <= now ? 'expired' : 'active';
  const graceOver = !row.previous_secret_expires_at || row.previous_secret_expires_at <= now;
  return {
    id: row.id,
    object: 'api_key',
    applicationId: row.application_id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as Scope[],
    allowedModels: fromJsonColumn<string[] | null>(row.allowed_models, null),
    apiVersion: row.api_version,
    prefix: row.prefix,
    status,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    previousSecretExpiresAt: graceOver ? null : row.previous_secret_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** null (every alias) stays SQL NULL; a list is stored as JSON, without repeats. */
const allowedModelsColumn = (aliases: string[] | null) => (aliases === null ? null : toJsonColumn([...new Set(aliases)]));

const withSecret = (key: ApiKey, secret: string): ApiKeyWithSecret => ({ ...key, secret });

async function findRow(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<ApiKeyRow> {
  return getRow<ApiKeyRow>(db, 'api_keys', { id, application_id: applicationId }, 'API key', options);
}

export async function insertApiKey(
  db: Executor,
  owner: { organizationId: string; applicationId: string },
  input: { name: string; scopes: Scope[]; allowedModels?: string[] | null; apiVersion?: string | null; expiresAt?: string | null },
  secret = generateApplicationKey(),
): Promise<ApiKeyWithSecret> {
  const now = nowIso();
  const row: ApiKeyRow = {
    id: newId('key'),
    organization_id: owner.organizationId,
    application_id: owner.applicationId,
    name: input.name,
    scopes: JSON.stringify([...new Set(input.scopes)]),
    allowed_models: allowedModelsColumn(input.allowedModels ?? null),
    api_version: input.apiVersion ?? null,
    prefix: displayPrefix(secret),
    secret_hash: hashSecret(secret),
    previous_secret_hash: null,
    previous_secret_expires_at: null,
    expires_at: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
    last_used_at: null,
    revoked_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('api_keys').insert(row);
  return withSecret(toApiKey(row), secret);
}

export const getApiKey = async (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  toApiKey(await findRow(db, applicationId, id, options));

export function listApiKeys(db: Executor, applicationId: string, params: PageQuery & { status?: ApiKey['status'] }) {
  const query = db('api_keys').where({ application_id: applicationId });
  whereCredentialStatus(query, params.status, nowIso());
  return listPage(query, params, { createdAt: 'created_at', name: { text: 'name' } }, toApiKey);
}

/** The ids of an application's keys, revoked ones included. */
export async function apiKeyIdsOf(db: Executor, applicationId: string): Promise<string[]> {
  return (await db('api_keys').where({ application_id: applicationId }).select<{ id: string }[]>('id')).map((k) => k.id);
}

export async function updateApiKey(
  db: Executor,
  id: string,
  changes: { name: string; scopes: Scope[]; allowedModels: string[] | null; apiVersion: string | null },
): Promise<void> {
  await db('api_keys')
    .where({ id })
    .update({
      name: changes.name,
      scopes: JSON.stringify([...new Set(changes.scopes)]),
      allowed_models: allowedModelsColumn(changes.allowedModels),
      api_version: changes.apiVersion,
      updated_at: nowIso(),
    });
}

export async function revokeApiKey(db: Executor, id: string): Promise<void> {
  const now = nowIso();
  await db('api_keys')
    .where({ id })
    .whereNull('revoked_at')
    .update({ revoked_at: now, previous_secret_hash: null, previous_secret_expires_at: null, updated_at: now });
}

/** A new secret for the same key; the old one keeps working until the grace period ends. */
export async function rotateApiKey(db: Executor, applicationId: string, id: string, graceSeconds: number): Promise<ApiKeyWithSecret> {
  const row = await findRow(db, applicationId, id, { forUpdate: true });
  const secret = generateApplicationKey();
  const now = Date.parse(nowIso());
  const grace = graceSeconds > 0;
  await db('api_keys')
    .where({ id })
    .update({
      secret_hash: hashSecret(secret),
      prefix: displayPrefix(secret),
      previous_secret_hash: grace ? row.secret_hash : null,
      previous_secret_expires_at: grace ? new Date(now + graceSeconds * 1000).toISOString() : null,
      updated_at: new Date(now).toISOString(),
    });
  return withSecret(await getApiKey(db, applicationId, id), secret);
}
