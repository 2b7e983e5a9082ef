import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { decryptValue, encryptValue } from '../secrets/envelope.js';

export type Integration = components['schemas']['Integration'];
export type Connection = components['schemas']['Connection'];
export type ConnectionOwner = components['schemas']['ConnectionOwner'];
export type AuthType = components['schemas']['ConnectionAuthType'];
export type ConnectionStatus = Connection['status'];

/** What a connection holds, encrypted; never in an answer, a log line, an audit entry or a webhook. */
export type Credentials =
  | { kind: 'oauth2'; accessToken: string; refreshToken: string | null; tokenType: string }
  | { kind: 'api_key'; apiKey: string }
  | { kind: 'basic'; username: string; password: string };

export type IntegrationRow = {
  id: string;
  application_id: string;
  provider_id: string;
  client_id: string | null;
  client_secret_key_sealed: string | null;
  client_secret_encrypted: string | null;
  scopes: string;
  created_at: string;
  updated_at: string;
};

export type ConnectionRow = {
  id: string;
  application_id: string;
  integration_id: string;
  provider_id: string;
  auth_type: AuthType;
  owner_type: ConnectionOwner['type'];
  owner_id: string | null;
  live_key: string | null;
  label: string | null;
  status: ConnectionStatus;
  status_reason: string | null;
  scopes: string;
  data_key_sealed: string | null;
  credentials_encrypted: string | null;
  credentials_version: number;
  expires_at: string | null;
  last_refreshed_at: string | null;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
};

const CONNECTION_COLUMNS = columnsOf<ConnectionRow>({
  id: true,
  application_id: true,
  integration_id: true,
  provider_id: true,
  auth_type: true,
  owner_type: true,
  owner_id: true,
  live_key: true,
  label: true,
  status: true,
  status_reason: true,
  scopes: true,
  data_key_sealed: true,
  credentials_encrypted: true,
  credentials_version: true,
  expires_at: true,
  last_refreshed_at: true,
  last_used_at: true,
  created_at: true,
  updated_at: true,
});

export const toIntegration = (row: IntegrationRow, authType: AuthType): Integration => ({
  id: row.id,
  object: 'integration',
  applicationId: row.application_id,
  providerId: row.provider_id,
  authType,
  oauthClient: row.client_id === null ? null : { clientId: row.client_id, hasClientSecret: row.client_secret_encrypted !== null },
  scopes: fromJsonColumn<string[]>(row.scopes, []),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toConnection = (row: ConnectionRow): Connection => ({
  id: row.id,
  object: 'connection',
  applicationId: row.application_id,
  integrationId: row.integration_id,
  providerId: row.provider_id,
  authType: row.auth_type,
  owner: { type: row.owner_type, id: row.owner_id },
  label: row.label,
  status: row.status,
  statusReason: row.status_reason,
  scopes: fromJsonColumn<string[]>(row.scopes, []),
  expiresAt: row.expires_at,
  lastRefreshedAt: row.last_refreshed_at,
  lastUsedAt: row.last_used_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

// Integrations

export const getIntegrationRow = (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  getRow<IntegrationRow>(db, 'integrations', { id, application_id: applicationId }, 'integration', options);

export async function integrationOfProvider(db: Executor, applicationId: string, providerId: string): Promise<IntegrationRow | undefined> {
  return (await db('integrations').where({ application_id: applicationId, provider_id: providerId }).first()) as IntegrationRow | undefined;
}

export async function listIntegrations(db: Executor, applicationId: string, filters: PageQuery, authTypeOf: (providerId: string) => AuthType) {
  const query = db('integrations').where({ application_id: applicationId }).select('*');
  return listPage<IntegrationRow, Integration>(query, filters, { createdAt: 'created_at' }, (row) => toIntegration(row, authTypeOf(row.provider_id)));
}

/** The client secret under a data key of its own, bound to the application and the integration. */
export async function insertIntegration(
  db: Executor,
  sealer: Sealer,
  applicationId: string,
  fields: { providerId: string; clientId: string | null; clientSecret: string | null; scopes: string[] },
): Promise<IntegrationRow> {
  const id = newId('int');
  const now = nowIso();
  const secret = fields.clientSecret === null ? null : encryptValue(sealer, { applicationId, secretId: id, version: 1 }, fields.clientSecret);
  const row: IntegrationRow = {
    id,
    application_id: applicationId,
    provider_id: fields.providerId,
    client_id: fields.clientId,
    client_secret_key_sealed: secret?.dataKeySealed ?? null,
    client_secret_encrypted: secret?.valueEncrypted ?? null,
    scopes: toJsonColumn(fields.scopes),
    created_at: now,
    updated_at: now,
  };
  await db('integrations').insert(row).onConflict(['application_id', 'provider_id']).ignore();
  if ((await integrationOfProvider(db, applicationId, fields.providerId))?.id !== id) {
    throw new ProblemError('conflict', `Provider ${fields.providerId} is enabled in this application already: see listIntegrations.`);
  }
  return row;
}

export function clientSecretOf(sealer: Sealer, row: IntegrationRow): string | null {
  if (row.client_secret_encrypted === null || row.client_secret_key_sealed === null) return null;
  return decryptValue(
    sealer,
    { applicationId: row.application_id, secretId: row.id, version: 1 },
    { dataKeySealed: row.client_secret_key_sealed, valueEncrypted: row.client_secret_encrypted },
  );
}

// Connections

export const getConnectionRow = (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  getRow<ConnectionRow>(db, 'connections', { id, application_id: applicationId }, 'connection', options, CONNECTION_COLUMNS);

export async function listConnections(
  db: Executor,
  applicationId: string,
  filters: PageQuery & { integrationId?: string; ownerId?: string; status?: ConnectionStatus },
) {
  const query = db('connections').where({ application_id: applicationId }).select(CONNECTION_COLUMNS);
  if (filters.integrationId) query.where({ integration_id: filters.integrationId });
  if (filters.ownerId) query.where({ owner_id: filters.ownerId });
  if (filters.status) query.where({ status: filters.status });
  return listPage<ConnectionRow, Connection>(query, filters, { createdAt: 'created_at' }, toConnection);
}

/** The key that makes one live (not revoked) connection per integration and owner. */
export const liveKey = (integrationId: string, owner: ConnectionOwner) => `${integrationId}:${owner.type}:${owner.id ?? ''}`;

/** The owner's live connection of an integration, if any, locked for the change about to be made. */
export async function liveConnection(db: Executor, integrationId: string, owner: ConnectionOwner): Promise<ConnectionRow | undefined> {
  const row = await db('connections')
    .where({ live_key: liveKey(integrationId, owner) })
    .first<ConnectionRow | undefined>(CONNECTION_COLUMNS);
  return row && getConnectionRow(db, row.application_id, row.id, { forUpdate: true });
}

/** Credentials encrypted under a fresh data key bound to the application, the connection and this version of its credentials. */
function sealCredentials(sealer: Sealer, applicationId: string, connectionId: string, version: number, credentials: Credentials) {
  const sealed = encryptValue(sealer, { applicationId, secretId: connectionId, version }, JSON.stringify(credentials));
  return { data_key_sealed: sealed.dataKeySealed, credentials_encrypted: sealed.valueEncrypted, credentials_version: version };
}

export function credentialsOf(sealer: Sealer, row: ConnectionRow): Credentials {
  if (row.credentials_encrypted === null || row.data_key_sealed === null) {
    throw new ProblemError('invalid-transition', `Connection ${row.id} is ${row.status} and holds no credentials.`);
  }
  const text = decryptValue(
    sealer,
    { applicationId: row.application_id, secretId: row.id, version: row.credentials_version },
    { dataKeySealed: row.data_key_sealed, valueEncrypted: row.credentials_encrypted },
  );
  return JSON.parse(text) as Credentials;
}

export type NewCredentials = { credentials: Credentials; scopes: string[]; expiresAt: string | null };

/**
 * Stores credentials for an owner: in their live connection of the integration (made active
 * again), else in a new one. `created` says which.
 */
export async function storeConnection(
  db: Executor,
  sealer: Sealer,
  integration: IntegrationRow,
  authType: AuthType,
  owner: ConnectionOwner,
  label: string | null,
  fresh: NewCredentials,
): Promise<{ row: ConnectionRow; created: boolean }> {
  const now = nowIso();
  const existing = await liveConnection(db, integration.id, owner);
  if (existing) {
    const changes = {
      ...sealCredentials(sealer, existing.application_id, existing.id, existing.credentials_version + 1, fresh.credentials),
      status: 'active' as const,
      status_reason: null,
      scopes: toJsonColumn(fresh.scopes),
      expires_at: fresh.expiresAt,
      label: label ?? existing.label,
      updated_at: now,
    };
    await db('connections').where({ id: existing.id }).update(changes);
    return { row: { ...existing, ...changes }, created: false };
  }
  const id = newId('con');
  const row: ConnectionRow = {
    id,
    application_id: integration.application_id,
    integration_id: integration.id,
    provider_id: integration.provider_id,
    auth_type: authType,
    owner_type: owner.type,
    owner_id: owner.id,
    live_key: liveKey(integration.id, owner),
    label,
    status: 'active',
    status_reason: null,
    scopes: toJsonColumn(fresh.scopes),
    ...sealCredentials(sealer, integration.application_id, id, 1, fresh.credentials),
    expires_at: fresh.expiresAt,
    last_refreshed_at: null,
    last_used_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('connections').insert(row);
  return { row, created: true };
}

/** New tokens from a refresh: a provider that sends no new refresh token keeps the old one valid. */
export async function storeRefreshed(db: Executor, sealer: Sealer, row: ConnectionRow, fresh: NewCredentials): Promise<ConnectionRow> {
  const now = nowIso();
  const changes = {
    ...sealCredentials(sealer, row.application_id, row.id, row.credentials_version + 1, fresh.credentials),
    status: 'active' as const,
    status_reason: null,
    scopes: toJsonColumn(fresh.scopes),
    expires_at: fresh.expiresAt,
    last_refreshed_at: now,
    updated_at: now,
  };
  await db('connections').where({ id: row.id }).update(changes);
  return { ...row, ...changes };
}

export async function setStatus(db: Executor, row: ConnectionRow, status: ConnectionStatus, reason: string | null): Promise<ConnectionRow> {
  const changes = {
    status,
    status_reason: reason,
    updated_at: nowIso(),
    // A revoked connection frees its owner's place and keeps no credentials.
    ...(status === 'revoked' ? { live_key: null, data_key_sealed: null, credentials_encrypted: null, expires_at: null } : {}),
  };
  await db('connections').where({ id: row.id }).update(changes);
  return { ...row, ...changes };
}

export async function markUsed(db: Executor, id: string): Promise<void> {
  await db('connections').where({ id }).update({ last_used_at: nowIso() });
}
