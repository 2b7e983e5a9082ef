import type { components } from '../../generated/openapi.js';
import { generateWebhookSecret } from '../../auth/keys.js';
import type { Executor } from '../../db/database.js';
import { getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter, nowIso } from '../../util/time.js';

export type WebhookEndpoint = components['schemas']['WebhookEndpoint'];
export type WebhookEndpointWithSecret = components['schemas']['WebhookEndpointWithSecret'];
export type WebhookMessage = components['schemas']['WebhookMessage'];
export type WebhookAttempt = components['schemas']['WebhookAttempt'];
export type WebhookEventType = components['schemas']['WebhookEventType'];
export type DisabledReason = NonNullable<WebhookEndpoint['disabledReason']>;

export type EndpointRow = {
  id: string;
  application_id: string;
  url: string;
  description: string | null;
  event_types: string;
  api_version: string;
  disabled_reason: DisabledReason | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
};

export type MessageRow = {
  id: string;
  application_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: WebhookEventType;
  payload: string;
  status: WebhookMessage['status'];
  attempts: number;
  schedule_step: number;
  next_attempt_at: string | null;
  locked_until: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
};

export type AttemptRow = {
  id: string;
  message_id: string;
  endpoint_id: string;
  attempt: number;
  url: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
  created_at: string;
};

/** The previous secret still signs until its grace period ends; after that it is as good as gone. */
const previousExpiry = (row: EndpointRow) =>
  row.previous_secret_expires_at && row.previous_secret_expires_at > nowIso() ? row.previous_secret_expires_at : null;

export const toWebhookEndpoint = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  object: 'webhook_endpoint',
  url: row.url,
  description: row.description,
  eventTypes: fromJsonColumn(row.event_types, []),
  apiVersion: row.api_version,
  enabled: row.disabled_reason === null,
  disabledReason: row.disabled_reason,
  failingSince: row.failing_since,
  previousSecretExpiresAt: previousExpiry(row),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toWebhookMessage = (row: MessageRow): WebhookMessage => ({
  id: row.id,
  object: 'webhook_message',
  endpointId: row.endpoint_id,
  eventId: row.event_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  lastAttemptAt: row.last_attempt_at,
  lastStatusCode: row.last_status_code,
  lastError: row.last_error,
  payload: JSON.parse(row.payload) as WebhookMessage['payload'],
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toWebhookAttempt = (row: AttemptRow): WebhookAttempt => ({
  id: row.id,
  object: 'webhook_attempt',
  messageId: row.message_id,
  endpointId: row.endpoint_id,
  attempt: row.attempt,
  url: row.url,
  statusCode: row.status_code,
  durationMs: row.duration_ms,
  error: row.error,
  responseBody: row.response_body,
  createdAt: row.created_at,
});

/** The secrets every delivery is signed with: the current one, and the previous one during its grace period. */
export function signingSecrets(sealer: Sealer, row: EndpointRow): string[] {
  const secrets = [sealer.open(row.secret_sealed, row.application_id)];
  if (row.previous_secret_sealed && previousExpiry(row)) secrets.push(sealer.open(row.previous_secret_sealed, row.application_id));
  return secrets;
}

export type EndpointInput = { url: string; description: string | null; eventTypes: string[]; apiVersion: string; enabled: boolean };

export async function insertEndpoint(db: Executor, sealer: Sealer, applicationId: string, input: EndpointInput): Promise<WebhookEndpointWithSecret> {
  const now = nowIso();
  const secret = generateWebhookSecret();
  const row: EndpointRow = {
    id: newId('whep'),
    application_id: applicationId,
    url: input.url,
    description: input.description,
    event_types: toJsonColumn(input.eventTypes),
    api_version: input.apiVersion,
    disabled_reason: input.enabled ? null : 'manual',
    secret_sealed: sealer.seal(secret, applicationId),
    previous_secret_sealed: null,
    previous_secret_expires_at: null,
    failing_since: null,
    created_at: now,
    updated_at: now,
  };
  await db('webhook_endpoints').insert(row);
  return { ...toWebhookEndpoint(row), secret };
}

export async function getEndpointRow(db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}): Promise<EndpointRow> {
  return getRow<EndpointRow>(db, 'webhook_endpoints', where, 'webhook endpoint', options);
}

export function listEndpoints(db: Executor, applicationId: string, filters: PageQuery & { enabled?: boolean }) {
  const query = db('webhook_endpoints').where({ application_id: applicationId });
  if (filters.enabled === true) query.whereNull('disabled_reason');
  if (filters.enabled === false) query.whereNotNull('disabled_reason');
  return listPage(query, filters, { createdAt: 'created_at' }, toWebhookEndpoint);
}

export async function updateEndpoint(db: Executor, row: EndpointRow, input: EndpointInput): Promise<void> {
  // Turning an endpoint back on forgets why it was off and how long it had been failing.
  const disabledReason = input.enabled ? null : (row.disabled_reason ?? 'manual');
  await db('webhook_endpoints')
    .where({ id: row.id })
    .update({
      url: input.url,
      description: input.description,
      event_types: toJsonColumn(input.eventTypes),
      api_version: input.apiVersion,
      disabled_reason: disabledReason,
      failing_since: disabledReason === null && row.disabled_reason !== null ? null : row.failing_since,
      updated_at: nowIso(),
    });
}

export async function rotateEndpointSecret(db: Executor, sealer: Sealer, row: EndpointRow, gracePeriodSeconds: number): Promise<string> {
  const secret = generateWebhookSecret();
  await db('webhook_endpoints')
    .where({ id: row.id })
    .update({
      secret_sealed: sealer.seal(secret, row.application_id),
      previous_secret_sealed: gracePeriodSeconds > 0 ? row.secret_sealed : null,
      previous_secret_expires_at: gracePeriodSeconds > 0 ? isoAfter(gracePeriodSeconds * 1000) : null,
      updated_at: nowIso(),
    });
  return secret;
}

/** Turns an endpoint off and gives up its pending messages: a disabled endpoint receives nothing. */
export async function disableEndpoint(db: Executor, row: EndpointRow, reason: DisabledReason): Promise<void> {
  const now = nowIso();
  await db('webhook_endpoints').where({ id: row.id }).update({ disabled_reason: reason, updated_at: now });
  await abandonPending(db, row.id, 'The endpoint was disabled.');
}

export async function abandonPending(db: Executor, endpointId: string, why: string): Promise<void> {
  await db('webhook_messages')
    .where({ endpoint_id: endpointId, status: 'pending' })
    .update({ status: 'failed', next_attempt_at: null, locked_until: null, last_error: why, updated_at: nowIso() });
}

export async function deleteEndpoint(db: Executor, id: string): Promise<void> {
  await db('webhook_endpoints').where({ id }).delete();
}

export async function getMessageRow(db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}): Promise<MessageRow> {
  return getRow<MessageRow>(db, 'webhook_messages', where, 'webhook message', options);
}

export function listMessages(db: Executor, endpointId: string, filters: PageQuery & { status?: WebhookMessage['status']; eventType?: WebhookEventType }) {
  const query = db('webhook_messages').where({ endpoint_id: endpointId });
  if (filters.status) query.where({ status: filters.status });
  if (filters.eventType) query.where({ event_type: filters.eventType });
  return listPage(query, filters, { createdAt: 'created_at' }, toWebhookMessage);
}

export function listAttempts(db: Executor, messageId: string, filters: PageQuery) {
  return listPage(db('webhook_attempts').where({ message_id: messageId }), filters, { createdAt: 'created_at' }, toWebhookAttempt);
}

/**
 * Makes a message due now with a fresh retry schedule; it keeps its id, so receivers see the same
 * webhook-id. A delivery in progress keeps its claim: the message is not sent twice at once.
 */
export async function requeueMessage(db: Executor, id: string): Promise<void> {
  const now = nowIso();
  await db('webhook_messages').where({ id }).update({ status: 'pending', schedule_step: 0, next_attempt_at: now, updated_at: now });
}

/** How long a delivered or failed message, with its attempts, stays readable through the API. */
export const MESSAGE_RETENTION_DAYS = 30;

export async function purgeOldMessages(db: Executor): Promise<number> {
  return db('webhook_messages')
    .whereIn('status', ['succeeded', 'failed'])
    .where('updated_at', '<', isoAfter(-MESSAGE_RETENTION_DAYS * 24 * 3600 * 1000))
    .delete();
}
