import type { components } from '../../generated/openapi.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { generateSecret, generateWebhookSecret, hashSecret } from '../../auth/keys.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type Trigger = components['schemas']['Trigger'];
export type TriggerWithSecret = components['schemas']['TriggerWithSecret'];
export type InputMapping = Record<string, string> | null;

export const TRIGGER_TOKEN_PREFIX = 'sbt_';

export type TriggerRow = {
  id: string;
  application_id: string;
  agent_id: string;
  name: string;
  status: Trigger['status'];
  authentication: Trigger['authentication'];
  input_mapping: string | null;
  secret_sealed: string | null;
  token_hash: string | null;
  created_at: string;
  updated_at: string;
};

export const toTrigger = (row: TriggerRow): Trigger => ({
  id: row.id,
  object: 'trigger',
  name: row.name,
  agentId: row.agent_id,
  status: row.status,
  authentication: row.authentication,
  inputMapping: row.input_mapping === null ? null : fromJsonColumn(row.input_mapping, {}),
  url: `/api/v1/hooks/${row.id}`,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A new credential for the trigger: a Standard Webhooks secret (sealed) or a bearer token (hashed). */
function credential(sealer: Sealer, applicationId: string, authentication: Trigger['authentication']) {
  if (authentication === 'signature') {
    const secret = generateWebhookSecret();
    return { secret, columns: { secret_sealed: sealer.seal(secret, applicationId), token_hash: null } };
  }
  const secret = generateSecret(TRIGGER_TOKEN_PREFIX);
  return { secret, columns: { secret_sealed: null, token_hash: hashSecret(secret) } };
}

export async function insertTrigger(
  db: Executor,
  sealer: Sealer,
  owner: { applicationId: string; agentId: string },
  input: { name: string; authentication: Trigger['authentication']; inputMapping: InputMapping },
): Promise<TriggerWithSecret> {
  const now = nowIso();
  const { secret, columns } = credential(sealer, owner.applicationId, input.authentication);
  const row: TriggerRow = {
    id: newId('trg'),
    application_id: owner.applicationId,
    agent_id: owner.agentId,
    name: input.name,
    status: 'active',
    authentication: input.authentication,
    input_mapping: input.inputMapping === null ? null : JSON.stringify(input.inputMapping),
    ...columns,
    created_at: now,
    updated_at: now,
  };
  await db('triggers').insert(row);
  return { ...toTrigger(row), secret };
}

export async function rotateSecret(db: Executor, sealer: Sealer, row: TriggerRow): Promise<string> {
  const { secret, columns } = credential(sealer, row.application_id, row.authentication);
  await db('triggers')
    .where({ id: row.id })
    .update({ ...columns, updated_at: nowIso() });
  return secret;
}

export async function getTriggerRow(db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}): Promise<TriggerRow> {
  return getRow<TriggerRow>(db, 'triggers', where, 'trigger', options);
}

export function listTriggers(db: Executor, applicationId: string, filters: PageQuery & { status?: Trigger['status']; agentId?: string }) {
  const query = db('triggers').where({ application_id: applicationId });
  if (filters.status) query.where({ status: filters.status });
  if (filters.agentId) query.where({ agent_id: filters.agentId });
  return listPage(query, filters, { createdAt: 'created_at', name: { text: 'name' } }, toTrigger);
}

export async function updateTrigger(db: Executor, id: string, changes: { name: string; inputMapping: InputMapping }): Promise<void> {
  await db('triggers')
    .where({ id })
    .update({ name: changes.name, input_mapping: changes.inputMapping === null ? null : JSON.stringify(changes.inputMapping), updated_at: nowIso() });
}

export async function setTriggerStatus(db: Executor, id: string, status: Trigger['status']): Promise<void> {
  await db('triggers').where({ id }).update({ status, updated_at: nowIso() });
}

export async function deleteTrigger(db: Executor, id: string): Promise<void> {
  await db('triggers').where({ id }).delete();
}

/**
 * Records a call by its webhook-id before its run starts: false when an earlier or concurrent call
 * with that id won. The savepoint keeps the caller's transaction usable when the insert loses.
 */
export async function claimInvocation(db: Executor, triggerId: string, webhookId: string): Promise<boolean> {
  return db
    .transaction((sp) => sp('trigger_invocations').insert({ trigger_id: triggerId, webhook_id: webhookId, run_id: null, created_at: nowIso() }))
    .then(() => true)
    .catch((err: unknown) => {
      if (isUniqueViolation(err)) return false;
      throw err;
    });
}

/** The run the first call with this webhook-id started. */
export async function invocationRunId(db: Executor, triggerId: string, webhookId: string): Promise<string> {
  return (await db('trigger_invocations').where({ trigger_id: triggerId, webhook_id: webhookId }).first<{ run_id: string }>('run_id')).run_id;
}

export async function setInvocationRun(db: Executor, triggerId: string, webhookId: string, runId: string): Promise<void> {
  await db('trigger_invocations').where({ trigger_id: triggerId, webhook_id: webhookId }).update({ run_id: runId });
}
