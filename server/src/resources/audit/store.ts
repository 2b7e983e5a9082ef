import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Executor } from '../../db/database.js';
import type { components, operations } from '../../generated/openapi.js';
import { columnsOf } from '../../db/lists.js';
import { insertRows } from '../../db/statements.js';
import { notFound } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';
import { redact } from './redact.js';

export type AuditActorType = components['schemas']['AuditActorType'];
export type AuditActor = components['schemas']['AuditEvent']['actor'];
export type AuditRequest = components['schemas']['AuditEvent']['request'];

/** One event as recorded, before the chainer gives it a place. */
export type AuditEntry = {
  /** null: no organization is known (a refused credential, a login): the installation's own chain, which no organization reads. */
  organizationId: string | null;
  applicationId: string | null;
  action: string;
  outcome: 'succeeded' | 'denied';
  status: number;
  actor: AuditActor;
  endUserId: string | null;
  resourceType: string;
  resourceId: string | null;
  runId: string | null;
  request: AuditRequest;
  before: unknown;
  after: unknown;
};

/** The chain of the events no organization owns. */
export const INSTALLATION_CHAIN = 'installation';
/** The `prevHash` of a chain's first event. */
export const GENESIS_HASH = '0'.repeat(64);

export type AuditRow = {
  id: string;
  organization_id: string;
  application_id: string | null;
  position: number | string | null;
  action: string;
  outcome: string;
  status: number;
  actor_type: string;
  actor_id: string | null;
  actor_user_id: string | null;
  end_user_id: string | null;
  resource_type: string;
  resource_id: string | null;
  run_id: string | null;
  request_id: string;
  operation_id: string | null;
  method: string | null;
  path: string | null;
  idempotency_key: string | null;
  api_version: string | null;
  ip: string | null;
  user_agent: string | null;
  before: string | null;
  after: string | null;
  created_at: string;
  prev_hash: string | null;
  hash: string | null;
};

export const AUDIT_COLUMNS = columnsOf<AuditRow>({
  id: true,
  organization_id: true,
  application_id: true,
  position: true,
  action: true,
  outcome: true,
  status: true,
  actor_type: true,
  actor_id: true,
  actor_user_id: true,
  end_user_id: true,
  resource_type: true,
  resource_id: true,
  run_id: true,
  request_id: true,
  operation_id: true,
  method: true,
  path: true,
  idempotency_key: true,
  api_version: true,
  ip: true,
  user_agent: true,
  before: true,
  after: true,
  created_at: true,
  prev_hash: true,
  hash: true,
});

/** A JSON object's text, redacted; null for anything else (a list answers nothing about one resource). */
const snapshot = (value: unknown): string | null =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? JSON.stringify(redact(value)) : null;

/** Appends an event, unchained, on `db`: the transaction of the change it records, or one of its own. */
export async function insertAuditEvent(db: Executor, entry: AuditEntry): Promise<void> {
  const { request, actor } = entry;
  await insertRows(db, 'audit_events', [
    {
      id: newId('aud'),
      organization_id: entry.organizationId ?? INSTALLATION_CHAIN,
      application_id: entry.applicationId,
      action: entry.action,
      outcome: entry.outcome,
      status: entry.status,
      actor_type: actor.type,
      actor_id: actor.id,
      actor_user_id: actor.userId,
      end_user_id: entry.endUserId,
      resource_type: entry.resourceType,
      resource_id: entry.resourceId,
      run_id: entry.runId,
      request_id: request.id,
      operation_id: request.operationId,
      method: request.method,
      path: request.path,
      idempotency_key: request.idempotencyKey,
      api_version: request.apiVersion,
      ip: request.ip,
      user_agent: request.userAgent,
      before: snapshot(entry.before),
      after: snapshot(entry.after),
      created_at: nowIso(),
    },
  ]);
}

/**
 * SHA-256 of the previous hash and the event's fields, as a JSON array in a fixed order: every
 * field but the hashes themselves, the position included (moving an event breaks the chain), the
 * before and after as the very text stored.
 */
export function hashOf(prevHash: string, row: AuditRow): string {
  const fields = [
    row.id,
    row.organization_id,
    Number(row.position),
    row.application_id,
    row.action,
    row.outcome,
    row.status,
    row.actor_type,
    row.actor_id,
    row.actor_user_id,
    row.end_user_id,
    row.resource_type,
    row.resource_id,
    row.run_id,
    row.request_id,
    row.operation_id,
    row.method,
    row.path,
    row.idempotency_key,
    row.api_version,
    row.ip,
    row.user_agent,
    row.before,
    row.after,
    row.created_at,
  ];
  return createHash('sha256')
    .update(`${prevHash}\n${JSON.stringify(fields)}`)
    .digest('hex');
}

export function toAuditEvent(row: AuditRow) {
  return {
    id: row.id,
    object: 'audit_event' as const,
    organizationId: row.organization_id,
    applicationId: row.application_id,
    position: Number(row.position),
    action: row.action as never,
    outcome: row.outcome as 'succeeded' | 'denied',
    status: row.status,
    actor: { type: row.actor_type as AuditActorType, id: row.actor_id, userId: row.actor_user_id },
    endUserId: row.end_user_id,
    resource: { type: row.resource_type, id: row.resource_id },
    runId: row.run_id,
    request: {
      id: row.request_id,
      operationId: row.operation_id,
      method: row.method,
      path: row.path,
      idempotencyKey: row.idempotency_key,
      apiVersion: row.api_version,
      ip: row.ip,
      userAgent: row.user_agent,
    },
    before: row.before === null ? null : (JSON.parse(row.before) as Record<string, unknown>),
    after: row.after === null ? null : (JSON.parse(row.after) as Record<string, unknown>),
    createdAt: row.created_at,
    prevHash: row.prev_hash ?? GENESIS_HASH,
    hash: row.hash ?? GENESIS_HASH,
  };
}

/** The filters of `listAuditEvents` (an export's are the same, without the page). */
export type AuditFilters = NonNullable<operations['listAuditEvents']['parameters']['query']>;

/** The organization's chained events that match, newest first (by position, which only grows as events commit). */
export function matchingEvents(db: Executor, organizationId: string, f: AuditFilters): Knex.QueryBuilder {
  const query = db('audit_events').where('organization_id', organizationId).whereNotNull('position');
  if (f.before !== undefined) query.where('position', '<', f.before);
  if (f.actorType) query.where('actor_type', f.actorType);
  if (f.actorId) query.where(f.actorId.startsWith('user_') ? 'actor_user_id' : 'actor_id', f.actorId);
  if (f.action?.endsWith('.')) query.whereRaw('substr(action, 1, ?) = ?', [f.action.length, f.action]);
  else if (f.action) query.where('action', f.action);
  if (f.resourceType) query.where('resource_type', f.resourceType);
  if (f.resourceId) query.where('resource_id', f.resourceId);
  if (f.runId) query.where('run_id', f.runId);
  if (f.endUserId) query.where('end_user_id', f.endUserId);
  if (f.applicationId) query.where('application_id', f.applicationId);
  if (f.outcome) query.where('outcome', f.outcome);
  if (f.since) query.where('created_at', '>=', new Date(f.since).toISOString());
  if (f.until) query.where('created_at', '<', new Date(f.until).toISOString());
  return query;
}

/** One page of matching events, and the cursor of the next. */
export async function pageOfEvents(
  db: Executor,
  organizationId: string,
  f: AuditFilters,
): Promise<{ rows: AuditRow[]; hasMore: boolean; nextBefore: number | null }> {
  const limit = f.limit ?? 50;
  const rows = await matchingEvents(db, organizationId, f)
    .orderBy('position', 'desc')
    .limit(limit + 1)
    .select<AuditRow[]>(AUDIT_COLUMNS);
  const hasMore = rows.length > limit;
  if (hasMore) rows.pop();
  return { rows, hasMore, nextBefore: hasMore ? Number(rows[rows.length - 1]!.position) : null };
}

export async function getAuditRow(db: Executor, organizationId: string, id: string): Promise<AuditRow> {
  const row = await db('audit_events').where({ id, organization_id: organizationId }).whereNotNull('position').first<AuditRow | undefined>(AUDIT_COLUMNS);
  if (!row) throw notFound('audit event', id);
  return row;
}
