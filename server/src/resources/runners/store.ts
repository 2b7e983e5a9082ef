import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { generateSecret, hashSecret } from '../../auth/keys.js';
import { RUNNER_TOKEN_PREFIX } from '../../auth/runner-auth.js';
import { escapeLike, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type Runner = components['schemas']['Runner'];
export type ModelApi = components['schemas']['ClaimedAgent']['modelApi'];
export type RunnerWithToken = components['schemas']['RunnerWithToken'];

type RunnerRow = {
  id: string;
  application_id: string;
  name: string;
  labels: string;
  token_hash: string;
  last_seen_at: string | null;
  created_at: string;
  updated_at: string;
};

const toRunner = (row: RunnerRow): Runner => ({
  id: row.id,
  object: 'runner',
  name: row.name,
  labels: fromJsonColumn(row.labels, []),
  lastSeenAt: row.last_seen_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export async function insertRunner(db: Executor, applicationId: string, input: { name: string; labels?: string[] }): Promise<RunnerWithToken> {
  const token = generateSecret(RUNNER_TOKEN_PREFIX);
  const now = nowIso();
  const row: RunnerRow = {
    id: newId('runner'),
    application_id: applicationId,
    name: input.name,
    labels: toJsonColumn([...new Set(input.labels ?? [])]),
    token_hash: hashSecret(token),
    last_seen_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('runners').insert(row);
  return { ...toRunner(row), token };
}

export async function getRunner(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Runner> {
  return toRunner(await getRow<RunnerRow>(db, 'runners', { id, application_id: applicationId }, 'runner', options));
}

export function listRunners(db: Executor, applicationId: string, params: PageQuery & { label?: string }) {
  const query = db('runners').where({ application_id: applicationId });
  // Labels cannot contain quotes, so the quoted label matches exactly one element of the JSON array.
  if (params.label) query.whereRaw('labels like ? escape ?', [`%"${escapeLike(params.label)}"%`, '\\']);
  return listPage(query, params, { createdAt: 'created_at', name: { text: 'name' } }, toRunner);
}

export async function deleteRunner(db: Executor, id: string): Promise<void> {
  await db('runners').where({ id }).delete();
}

/**
 * The built-in runner of this server (one per host and port, so replicas do not re-key each
 * other's) in the first application, with a fresh token: the in-process runner of `--with-runner`
 * is registered like any other, and re-keyed at each start.
 */
export async function provisionBuiltinRunner(db: Executor, serverName: string): Promise<{ runnerId: string; token: string }> {
  const name = `Built-in runner (${serverName})`;
  const app = await db('applications').orderBy('created_at').first<{ id: string }>('id');
  const existing = await db('runners').where({ application_id: app.id, name }).first<{ id: string } | undefined>('id');
  if (!existing) {
    const runner = await insertRunner(db, app.id, { name });
    return { runnerId: runner.id, token: runner.token };
  }
  const token = generateSecret(RUNNER_TOKEN_PREFIX);
  await db('runners')
    .where({ id: existing.id })
    .update({ token_hash: hashSecret(token), updated_at: nowIso() });
  return { runnerId: existing.id, token };
}

/**
 * INTEGRATION POINT, not yet wired: the API (`chat`, `messages`, `embeddings`, `transcription`) of
 * the model alias `alias` in the application, from the `models` table (`application_id`, `alias`,
 * `api`, `deleted_at`), which does not exist on this branch. Until the models resource is merged
 * no model is an alias, so the answer is null; the integrator replaces this body with the lookup
 * of the application's live (not deleted) alias.
 */
export const modelApiOf: (db: Executor, applicationId: string, alias: string) => Promise<ModelApi> = async () => null;
