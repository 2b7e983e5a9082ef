import type { components } from '../../generated/openapi.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type ModelProvider = components['schemas']['ModelProvider'];
export type ProviderKind = components['schemas']['ModelProviderKind'];
export type ProviderHeaders = components['schemas']['ProviderHeaders'];

export type ProviderRow = {
  id: string;
  application_id: string;
  name: string;
  kind: ProviderKind;
  base_url: string;
  credential_sealed: string | null;
  credential_last4: string | null;
  headers: string;
  timeout_seconds: number;
  created_at: string;
  updated_at: string;
};

/** The public API of the two named providers; an `openai-compatible` one has no default. */
export const DEFAULT_BASE_URLS: Partial<Record<ProviderKind, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
};

export const toModelProvider = (row: ProviderRow): ModelProvider => ({
  id: row.id,
  object: 'model_provider',
  name: row.name,
  kind: row.kind,
  baseUrl: row.base_url,
  hasCredential: row.credential_sealed !== null,
  credentialLast4: row.credential_last4,
  headers: fromJsonColumn(row.headers, {}),
  timeoutSeconds: row.timeout_seconds,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Below this length, four characters are too large a part of a credential to show (or keep readable). */
const LAST4_MIN_LENGTH = 12;

/**
 * The columns that hold a credential: sealed with the application as associated data (a sealed
 * credential copied to another application's row does not open), and its last four characters
 * when it is long enough for them to give little away.
 */
const credentialColumns = (sealer: Sealer, applicationId: string, credential: string | null) =>
  credential === null
    ? { credential_sealed: null, credential_last4: null }
    : {
        credential_sealed: sealer.seal(credential, applicationId),
        credential_last4: credential.length >= LAST4_MIN_LENGTH ? credential.slice(-4) : null,
      };

/** The credential in clear, for the one place that sends it: the call to the provider. */
export const openCredential = (sealer: Sealer, row: Pick<ProviderRow, 'credential_sealed' | 'application_id'>): string | undefined =>
  row.credential_sealed === null ? undefined : sealer.open(row.credential_sealed, row.application_id);

const nameTaken = (name: string) => new ProblemError('conflict', `The application already has a model provider named "${name}".`);

/** Runs a write that may hit the unique name; the savepoint keeps the caller's transaction usable. */
async function uniquely(db: Executor, name: string, write: (sp: Executor) => Promise<unknown>): Promise<void> {
  try {
    await db.transaction(write);
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(name);
    throw err;
  }
}

export type ProviderInput = { name: string; kind: ProviderKind; baseUrl: string; credential: string | null; headers: ProviderHeaders; timeoutSeconds: number };

export async function insertProvider(db: Executor, sealer: Sealer, applicationId: string, input: ProviderInput): Promise<ProviderRow> {
  const now = nowIso();
  const row: ProviderRow = {
    id: newId('prov'),
    application_id: applicationId,
    name: input.name,
    kind: input.kind,
    base_url: input.baseUrl,
    ...credentialColumns(sealer, applicationId, input.credential),
    headers: toJsonColumn(input.headers),
    timeout_seconds: input.timeoutSeconds,
    created_at: now,
    updated_at: now,
  };
  await uniquely(db, input.name, (sp) => sp('model_providers').insert(row));
  return row;
}

export type ProviderChanges = { name: string; baseUrl: string; headers: ProviderHeaders; timeoutSeconds: number; credential?: string | null };

export async function updateProvider(db: Executor, sealer: Sealer, row: ProviderRow, changes: ProviderChanges): Promise<void> {
  const columns = {
    name: changes.name,
    base_url: changes.baseUrl,
    headers: toJsonColumn(changes.headers),
    timeout_seconds: changes.timeoutSeconds,
    ...(changes.credential === undefined ? {} : credentialColumns(sealer, row.application_id, changes.credential)),
    updated_at: nowIso(),
  };
  await uniquely(db, changes.name, (sp) => sp('model_providers').where({ id: row.id }).update(columns));
}

export const getProviderRow = (db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}) =>
  getRow<ProviderRow>(db, 'model_providers', where, 'model provider', options);

export function listProviders(db: Executor, applicationId: string, filters: PageQuery & { kind?: ProviderKind }) {
  const query = db('model_providers').where({ application_id: applicationId });
  if (filters.kind) query.where({ kind: filters.kind });
  return listPage(query, filters, { createdAt: 'created_at', name: { text: 'name' } }, toModelProvider);
}

export async function findProviderByName(db: Executor, applicationId: string, name: string): Promise<ProviderRow | undefined> {
  return (await db('model_providers').where({ application_id: applicationId, name }).first()) as ProviderRow | undefined;
}

export async function deleteProvider(db: Executor, id: string): Promise<void> {
  await db('model_providers').where({ id }).delete();
}
