import type { components } from '../../generated/openapi.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { columnsOf, containsPattern, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { ProblemError } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type EndUser = components['schemas']['EndUser'];
type Metadata = Record<string, string>;

type EndUserRow = {
  id: string;
  application_id: string;
  external_id: string;
  name: string | null;
  email: string | null;
  email_normalized: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<EndUserRow>({
  id: true,
  application_id: true,
  external_id: true,
  name: true,
  email: true,
  email_normalized: true,
  metadata: true,
  created_at: true,
  updated_at: true,
});

const toEndUser = (row: EndUserRow): EndUser => ({
  id: row.id,
  object: 'end_user',
  applicationId: row.application_id,
  externalId: row.external_id,
  name: row.name,
  email: row.email,
  metadata: fromJsonColumn<Metadata>(row.metadata, {}),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type EndUserFields = { name: string | null; email: string | null; metadata: Metadata };

const fieldColumns = (fields: EndUserFields) => ({
  name: fields.name,
  email: fields.email?.trim() ?? null,
  email_normalized: fields.email?.trim().toLowerCase() ?? null,
  metadata: toJsonColumn(fields.metadata),
});

const externalIdTaken = (externalId: string) => new ProblemError('conflict', `The application has an end-user with external id "${externalId}" already.`);

/** A write that may hit the unique external id; the savepoint keeps the caller's transaction usable. */
async function uniquely(db: Executor, externalId: string, write: (sp: Executor) => Promise<unknown>): Promise<void> {
  try {
    await db.transaction(write);
  } catch (err) {
    if (isUniqueViolation(err)) throw externalIdTaken(externalId);
    throw err;
  }
}

/** The `eu_` id of the application's end-user with this external id, created on first use. */
export async function endUserIdFor(db: Executor, applicationId: string, externalId: string): Promise<string> {
  const now = nowIso();
  await db('end_users')
    .insert({ id: newId('eu'), application_id: applicationId, external_id: externalId, metadata: '{}', created_at: now, updated_at: now })
    .onConflict(['application_id', 'external_id'])
    .ignore();
  const row = await db('end_users').where({ application_id: applicationId, external_id: externalId }).first<{ id: string }>('id');
  return row.id;
}

export async function insertEndUser(db: Executor, applicationId: string, externalId: string, fields: EndUserFields): Promise<EndUser> {
  const now = nowIso();
  const row: EndUserRow = {
    id: newId('eu'),
    application_id: applicationId,
    external_id: externalId,
    ...fieldColumns(fields),
    created_at: now,
    updated_at: now,
  };
  await uniquely(db, externalId, (sp) => sp('end_users').insert(row));
  return toEndUser(row);
}

export const getEndUser = async (db: Executor, applicationId: string, id: string, options: ReadOptions = {}) =>
  toEndUser(await getRow<EndUserRow>(db, 'end_users', { id, application_id: applicationId }, 'end-user', options, COLUMNS));

export async function findByExternalId(db: Executor, applicationId: string, externalId: string, forUpdate = false): Promise<EndUser | undefined> {
  const query = db('end_users').where({ application_id: applicationId, external_id: externalId });
  const row = await (forUpdate ? query.forUpdate() : query).first<EndUserRow | undefined>(COLUMNS);
  return row && toEndUser(row);
}

export async function updateEndUser(db: Executor, id: string, externalId: string, fields: EndUserFields): Promise<void> {
  await uniquely(db, externalId, (sp) =>
    sp('end_users')
      .where({ id })
      .update({ external_id: externalId, ...fieldColumns(fields), updated_at: nowIso() }),
  );
}

/**
 * Deletes the end-user; what was theirs stays for the application's history and costs but names
 * no one: runs lose their end-user (the foreign key sets it null), and so do their events and
 * usage records.
 */
export async function deleteEndUser(db: Executor, id: string): Promise<void> {
  await db('run_events').where({ end_user_id: id }).update({ end_user_id: null });
  await db('usage_events').where({ end_user_id: id }).update({ end_user_id: null });
  await db('end_users').where({ id }).delete();
}

export function listEndUsers(db: Executor, applicationId: string, params: PageQuery & { externalId?: string; email?: string; q?: string }) {
  const query = db('end_users').where({ application_id: applicationId }).select(COLUMNS);
  if (params.externalId) query.where({ external_id: params.externalId });
  if (params.email) query.where({ email_normalized: params.email.trim().toLowerCase() });
  if (params.q) {
    const pattern = containsPattern(params.q);
    query.where((q) => {
      q.whereRaw('lower(name) like ? escape ?', [pattern, '\\'])
        .orWhereRaw('email_normalized like ? escape ?', [pattern, '\\'])
        .orWhereRaw('lower(external_id) like ? escape ?', [pattern, '\\']);
    });
  }
  return listPage(query, params, { createdAt: 'created_at', externalId: 'external_id' }, toEndUser);
}
