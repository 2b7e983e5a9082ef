import { isUniqueViolation, type Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import type { components } from '../../generated/openapi.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';
import { encryptValue } from './envelope.js';

export type Secret = components['schemas']['Secret'];

export type SecretRow = {
  id: string;
  application_id: string;
  name: string;
  description: string | null;
  current_version: number;
  last_accessed_at: string | null;
  created_at: string;
  updated_at: string;
};

export type VersionRow = { secret_id: string; version: number; application_id: string; data_key_sealed: string; value_encrypted: string; created_at: string };

type AccessRow = { id: string; secret_id: string; version: number; run_id: string; runner_id: string; purpose: 'claim'; created_at: string };

export const toSecret = (row: SecretRow): Secret => ({
  id: row.id,
  object: 'secret',
  applicationId: row.application_id,
  name: row.name,
  description: row.description,
  currentVersion: row.current_version,
  lastAccessedAt: row.last_accessed_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const getSecretRow = (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  getRow<SecretRow>(db, 'secrets', { id, application_id: applicationId }, 'secret', options);

export function listSecrets(db: Executor, applicationId: string, query: PageQuery & { name?: string }) {
  const rows = db('secrets').where('application_id', applicationId);
  if (query.name) rows.where('name', query.name);
  return listPage(rows.select('*'), query, { createdAt: 'created_at' }, toSecret);
}

async function insertVersion(db: Executor, sealer: Sealer, row: SecretRow, version: number, value: string, at: string) {
  const { dataKeySealed, valueEncrypted } = encryptValue(sealer, { applicationId: row.application_id, secretId: row.id, version }, value);
  const stored: VersionRow = {
    secret_id: row.id,
    version,
    application_id: row.application_id,
    data_key_sealed: dataKeySealed,
    value_encrypted: valueEncrypted,
    created_at: at,
  };
  await db('secret_versions').insert(stored);
  return stored;
}

export async function insertSecret(db: Executor, sealer: Sealer, applicationId: string, fields: { name: string; value: string; description: string | null }) {
  const now = nowIso();
  const row: SecretRow = {
    id: newId('sec'),
    application_id: applicationId,
    name: fields.name,
    description: fields.description,
    current_version: 1,
    last_accessed_at: null,
    created_at: now,
    updated_at: now,
  };
  try {
    // A savepoint: a taken name leaves the request's transaction usable for its 409.
    await db.transaction((sp) => sp('secrets').insert(row));
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ProblemError('conflict', `The application already has a secret named ${fields.name}; add a version to change its value.`);
    throw err;
  }
  await insertVersion(db, sealer, row, 1, fields.value, now);
  return row;
}

/** The secret (locked by the caller) gets `value` as its next version, which claims deliver from now on. */
export async function addVersion(db: Executor, sealer: Sealer, row: SecretRow, value: string) {
  const now = nowIso();
  const version = row.current_version + 1;
  const stored = await insertVersion(db, sealer, row, version, value, now);
  await db('secrets').where({ id: row.id }).update({ current_version: version, updated_at: now });
  return { secret: { ...row, current_version: version, updated_at: now }, version: toVersion(stored) };
}

export async function updateDescription(db: Executor, row: SecretRow, description: string | null): Promise<SecretRow> {
  const next = { ...row, description, updated_at: nowIso() };
  await db('secrets').where({ id: row.id }).update({ description, updated_at: next.updated_at });
  return next;
}

const toVersion = (row: Pick<VersionRow, 'secret_id' | 'version' | 'created_at'>): components['schemas']['SecretVersion'] => ({
  object: 'secret_version',
  secretId: row.secret_id,
  version: row.version,
  createdAt: row.created_at,
});

export const listVersions = (db: Executor, secretId: string, query: PageQuery) =>
  listPage(
    db('secret_versions').where({ secret_id: secretId }).select('secret_id', 'version', 'created_at'),
    { ...query, sort: '-version' },
    { version: 'version' },
    toVersion,
    'version',
  );

const toAccess = (row: AccessRow): components['schemas']['SecretAccess'] => ({
  id: row.id,
  object: 'secret_access',
  secretId: row.secret_id,
  version: row.version,
  runId: row.run_id,
  runnerId: row.runner_id,
  purpose: row.purpose,
  createdAt: row.created_at,
});

export function listAccesses(db: Executor, secretId: string, query: PageQuery & { version?: number }) {
  const rows = db('secret_accesses').where({ secret_id: secretId });
  if (query.version !== undefined) rows.where('version', query.version);
  return listPage(rows.select('id', 'secret_id', 'version', 'run_id', 'runner_id', 'purpose', 'created_at'), query, { createdAt: 'created_at' }, toAccess);
}
