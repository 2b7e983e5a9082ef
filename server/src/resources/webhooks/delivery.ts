import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { isPostgres, type Db } from '../../db/database.js';
import type { Config } from '../../config/config.js';
import { guardedAgents } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { startClaimPool } from '../../util/claim-pool.js';
import { newId } from '../../util/ids.js';
import { isoAfter, nowIso, nowMs } from '../../util/time.js';
import { onOutboxWrite, recordEvent } from './outbox.js';
import { send, type Outcome } from './send.js';
import { tracer, type ClientSpan } from '../../observability/tracing.js';
import * as store from './store.js';
import type { Versioning } from '../../versions/versioning.js';
import type { WebhookMetrics, WebhookOutcome } from '../../observability/metrics.js';

/** After each failure, how long until the next attempt (DOMAIN.md): 8 attempts, then the message has failed. */
export const RETRY_DELAYS_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
/** An endpoint whose every delivery failed for this long is disabled. */
const FAILING_LIMIT_MS = 5 * 24 * 3600 * 1000;
const MAX_RETRY_AFTER_MS = 36_000_000;
/** A claim outlives the attempt's timeout by this much, so only a crashed worker's claim runs out. */
const CLAIM_MARGIN_MS = 5_000;

export type Deliverer = {
  /** Delivers everything due now and waits until nothing is in flight (tests drive it with a fake clock). */
  drain: () => Promise<void>;
  stop(): Promise<void>;
};

/**
 * The delivery worker: claims due messages (each replica its own, with SKIP LOCKED on PostgreSQL),
 * sends each with its Standard Webhooks signatures, records the attempt, and schedules a retry or
 * gives up. A message stays in the database until an attempt is recorded, so a crash between the
 * change and its delivery only delays it (at least once, same webhook-id).
 */
export function startDeliverer(
  db: Db,
  sealer: Sealer,
  config: Config['webhooks'],
  logger: Logger,
  versioning: Versioning,
  metrics?: WebhookMetrics,
): Deliverer {
  const agents = guardedAgents(config.policy);
  // Stopping cuts deliveries short without recording them: their claims run out and they are sent again.
  const stopping = new AbortController();

  async function claim(limit: number): Promise<string[]> {
    return db.transaction(async (trx) => {
      const now = nowIso();
      const query = trx('webhook_messages')
        .where({ status: 'pending' })
        .where('next_attempt_at', '<=', now)
        .where((q) => {
          q.whereNull('locked_until').orWhere('locked_until', '<=', now);
        })
        .orderBy('next_attempt_at')
        .limit(limit)
        .select('id')
        .forUpdate();
      const ids = ((await (isPostgres(trx) ? query.skipLocked() : query)) as { id: string }[]).map((r) => r.id);
      if (ids.length)
        await trx('webhook_messages')
          .whereIn('id', ids)
          .update({ locked_until: isoAfter(config.timeoutMs + CLAIM_MARGIN_MS) });
      return ids;
    });
  }

  async function deliver(id: string): Promise<void> {
    // Deleting an endpoint deletes its messages: one claimed just before has nothing left to send.
    const message = (await db('webhook_messages').where({ id }).first()) as store.MessageRow | undefined;
    const endpoint = message && ((await db('webhook_endpoints').where({ id: message.endpoint_id }).first()) as store.EndpointRow | undefined);
    if (!message || !endpoint) return;
    if (endpoint.disabled_reason) {
      await store.abandonPending(db, endpoint.id, 'The endpoint was disabled.');
      return;
    }
    const at = nowMs();
    const timestamp = new Date(at);
    // Stored in the newest version; sent in the endpoint's (the signature covers what is sent).
    const payload = versioning.renderWebhook(endpoint.api_version, message.payload);
    const signature = store
      .signingSecrets(sealer, endpoint)
      .map((secret) => new Webhook(secret).sign(message.id, timestamp, payload))
      .join(' ');
    const span = tracer()?.client('webhook delivery', {
      'switchboard.webhook.message_id': message.id,
      'switchboard.webhook.endpoint_id': endpoint.id,
      'switchboard.webhook.attempt': message.attempts + 1,
      'switchboard.application_id': endpoint.application_id,
      'http.request.method': 'POST',
    });
    const outcome = await send(
      endpoint.url,
      payload,
      {
        'content-type': 'application/json',
        'user-agent': 'Switchboard-Webhooks/1',
        'webhook-id': message.id,
        'webhook-timestamp': String(Math.floor(at / 1000)),
        'webhook-signature': signature,
        ...(span ? { traceparent: span.traceparent } : {}),
      },
      agents,
      config.timeoutMs,
      at,
      stopping.signal,
    );
    if (span) endSpan(span, outcome);
    if (stopping.signal.aborted) return;
    const recorded = await record(id, endpoint.url, new Date(at).toISOString(), outcome);
    if (recorded) metrics?.attempt(recorded, outcome.statusCode !== null, outcome.durationMs / 1000);
  }

  /** The attempt's span says how it went: the receiver's status, or why none came. */
  function endSpan(span: ClientSpan, outcome: Outcome) {
    const succeeded = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    span.set({ 'switchboard.webhook.outcome': succeeded ? 'succeeded' : 'failed', 'http.response.status_code': outcome.statusCode ?? undefined });
    span.end(succeeded ? undefined : (outcome.error ?? `the receiver answered ${outcome.statusCode}`));
  }

  /**
   * The attempt, and what it means for the message and its endpoint, in one transaction; what became
   * of the message (undefined: it was deleted meanwhile, and nothing was recorded).
   */
  async function record(id: string, url: string, startedAt: string, outcome: Outcome): Promise<WebhookOutcome | undefined> {
    return db.transaction(async (trx): Promise<WebhookOutcome | undefined> => {
      // The endpoint's lock first, then the message's: the order the endpoint's handlers take them in
      // (they lock the endpoint, then update its messages). The other order deadlocks with them on PostgreSQL.
      const owner = await trx('webhook_messages').where({ id }).first<{ endpoint_id: string } | undefined>('endpoint_id');
      const endpoint = owner && ((await trx('webhook_endpoints').where({ id: owner.endpoint_id }).first().forUpdate()) as store.EndpointRow | undefined);
      const message = endpoint && ((await trx('webhook_messages').where({ id }).first().forUpdate()) as store.MessageRow | undefined);
      if (!message) return undefined;
      const now = nowIso();
      const attempt = message.attempts + 1;
      await trx('webhook_attempts').insert({
        id: newId('whatt'),
        message_id: id,
        endpoint_id: endpoint.id,
        attempt,
        url,
        status_code: outcome.statusCode,
        duration_ms: outcome.durationMs,
        error: outcome.error,
        response_body: outcome.responseBody,
        created_at: startedAt,
      } satisfies store.AttemptRow);
      const last = {
        attempts: attempt,
        last_attempt_at: startedAt,
        last_status_code: outcome.statusCode,
        last_error: outcome.error,
        locked_until: null,
        updated_at: now,
      };
      const succeeded = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
      // A message given up on (its endpoint was disabled meanwhile) keeps its status; the attempt still counts.
      if (message.status !== 'pending') {
        await trx('webhook_messages')
          .where({ id })
          .update(succeeded ? { ...last, status: 'succeeded', next_attempt_at: null } : last);
        return succeeded ? 'success' : 'failed';
      }
      if (succeeded) {
        await trx('webhook_messages')
          .where({ id })
          .update({ ...last, status: 'succeeded', next_attempt_at: null });
        if (endpoint.failing_since) await trx('webhook_endpoints').where({ id: endpoint.id }).update({ failing_since: null });
        return 'success';
      }
      const failingSince = endpoint.failing_since ?? now;
      const step = message.schedule_step + 1;
      const disable = outcome.statusCode === 410 ? 'gone' : Date.parse(now) - Date.parse(failingSince) >= FAILING_LIMIT_MS ? 'failing' : null;
      if (disable) {
        await trx('webhook_messages')
          .where({ id })
          .update({ ...last, status: 'failed', next_attempt_at: null });
        await store.disableEndpoint(trx, endpoint, disable);
        await trx('webhook_endpoints').where({ id: endpoint.id }).update({ failing_since: failingSince });
        const disabled = await store.getEndpointRow(trx, { id: endpoint.id });
        await recordEvent(trx, endpoint.application_id, 'webhook_endpoint.disabled', store.toWebhookEndpoint(disabled));
        logger.warn({ endpointId: endpoint.id, reason: disable }, 'webhook endpoint disabled');
        return 'failed';
      }
      if (!endpoint.failing_since) await trx('webhook_endpoints').where({ id: endpoint.id }).update({ failing_since: failingSince });
      if (step >= RETRY_DELAYS_MS.length) {
        await trx('webhook_messages')
          .where({ id })
          .update({ ...last, status: 'failed', next_attempt_at: null });
        return 'failed';
      }
      const delay = Math.max(RETRY_DELAYS_MS[step]!, Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      await trx('webhook_messages')
        .where({ id })
        .update({ ...last, schedule_step: step, next_attempt_at: isoAfter(delay) });
      return 'retry';
    });
  }

  const pool = startClaimPool({
    slots: config.concurrency,
    claim,
    work: deliver,
    intervalMs: config.intervalMs,
    logger,
    what: 'webhook delivery',
    logFields: (id) => ({ messageId: id }),
  });
  const unsubscribe = onOutboxWrite(() => void pool.fill());

  return {
    drain: () => pool.drain(),
    async stop() {
      // The pool stops claiming first, so that deliveries ended by the abort do not claim more.
      const stopped = pool.stop();
      stopping.abort();
      unsubscribe();
      await stopped;
    },
  };
}
