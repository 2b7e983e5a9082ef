import type { Executor } from '../../db/database.js';
import { writerRows } from '../../db/statements.js';
import type { components } from '../../generated/openapi.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';
import { addToRunUsage, isFinishedRun } from '../runs/store.js';
import { recordEvent } from '../webhooks/outbox.js';
import { lockBudgetsOf, settleUsage } from '../budgets/enforcement.js';

export type UsageEvent = components['schemas']['UsageEvent'];
export type PricingStatus = components['schemas']['UsagePricingStatus'];

/** Who usage is attributed to: the application, the key or person, and the run and what it works for. */
export type Attribution = {
  applicationId: string;
  keyId: string | null;
  userId: string | null;
  endUserId: string | null;
  runId: string | null;
  agentId: string | null;
  agentVersion: number | null;
  threadId: string | null;
  taskId: string | null;
  projectId: string | null;
  goalId: string | null;
};

export type UsageRecord = Attribution & {
  requestId: string;
  source: UsageEvent['source'];
  modelId: string | null;
  alias: string;
  providerId: string | null;
  /** Who served a run's own call, as the run reported it. */
  provider?: string | null;
  upstreamModel: string | null;
  api: string;
  /** succeeded; failed (an error answered); aborted (the caller or the provider went away mid-answer). */
  outcome: 'succeeded' | 'failed' | 'aborted';
  streamed: boolean;
  /** false when the provider never said what was used: the counts are then unknown (null), not zero. */
  usageReported: boolean;
  inputTokens: number | null;
  outputTokens: number | null;
  cachedInputTokens: number | null;
  audioSeconds: number | null;
  costMicros: number | null;
  attempts: number;
  fallbacksUsed: number;
  latencyMs: number;
  firstByteMs: number | null;
  upstreamStatus: number | null;
  errorCode: string | null;
};

export type UsageRow = {
  id: string;
  application_id: string;
  request_id: string;
  source: UsageEvent['source'];
  key_id: string | null;
  user_id: string | null;
  run_id: string | null;
  agent_id: string | null;
  agent_version: number | null;
  thread_id: string | null;
  task_id: string | null;
  project_id: string | null;
  goal_id: string | null;
  end_user_id: string | null;
  alias: string;
  provider_id: string | null;
  provider: string | null;
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  cached_input_tokens: number | string | null;
  audio_seconds: number | null;
  cost_micros: number | string | null;
  pricing_status: PricingStatus;
  created_at: string;
};

const count = (value: number | string | null) => (value === null ? null : Number(value));

export const toUsageEvent = (row: UsageRow): UsageEvent => ({
  id: row.id,
  object: 'usage_event',
  applicationId: row.application_id,
  requestId: row.request_id,
  source: row.source,
  runId: row.run_id,
  agentId: row.agent_id,
  agentVersion: row.agent_version,
  threadId: row.thread_id,
  taskId: row.task_id,
  projectId: row.project_id,
  goalId: row.goal_id,
  endUserId: row.end_user_id,
  apiKeyId: row.key_id,
  userId: row.user_id,
  model: row.alias,
  provider: row.provider ?? row.provider_id,
  inputTokens: count(row.input_tokens),
  outputTokens: count(row.output_tokens),
  cachedInputTokens: count(row.cached_input_tokens),
  audioSeconds: row.audio_seconds,
  costMicros: count(row.cost_micros),
  pricingStatus: row.pricing_status,
  createdAt: row.created_at,
});

/** Usage is priced when it has a cost; otherwise unpriced when what was used is known, unreported when not. */
export const pricingStatusOf = (usage: Pick<UsageRecord, 'costMicros' | 'usageReported'>): PricingStatus =>
  usage.costMicros !== null ? 'priced' : usage.usageReported ? 'unpriced' : 'unreported';

/**
 * Usage without a cost that was (or may have been) billed: unpriced, or unreported by a call that
 * did not simply fail (a stream cut mid-answer was billed for what it sent).
 */
const flagged = (usage: UsageRecord, status: PricingStatus) => status === 'unpriced' || (status === 'unreported' && usage.outcome !== 'failed');

/**
 * Records usage once: the request id is unique, so a repeated write (a retried request, a second
 * settle of the same call) leaves the first row; returns the new row, or undefined when it was
 * already there. Usage without a cost that was billed raises `usage.unpriced` in the same
 * transaction, and the budgets that cover it count it (and let go of what the call reserved). A run's usage recorded after the run ended (a stream cut by its cancellation) is
 * added to the run's totals here; one recorded before is counted when the run ends (see
 * `transitionRun`). The run's row is locked first, so the two never miss a call nor count it twice.
 */
export async function recordUsage(db: Executor, usage: UsageRecord): Promise<UsageRow | undefined> {
  return db.transaction(async (trx) => {
    const finished = usage.runId ? await isFinishedRun(trx, usage.runId) : false;
    const budgets = await lockBudgetsOf(trx, usage);
    const row = await insertUsage(trx, usage);
    await settleUsage(trx, budgets, usage, row !== undefined);
    if (!row) return undefined;
    if (finished) await addToRunUsage(trx, usage.runId!, usage);
    if (flagged(usage, row.pricing_status)) await recordEvent(trx, usage.applicationId, 'usage.unpriced', toUsageEvent(row));
    return row;
  });
}

export const findUsage = (db: Executor, requestId: string) => db('usage_events').where({ request_id: requestId }).first<UsageRow | undefined>();

async function insertUsage(db: Executor, usage: UsageRecord): Promise<UsageRow | undefined> {
  const row: Record<string, unknown> = {
    id: newId('usage'),
    application_id: usage.applicationId,
    request_id: usage.requestId,
    source: usage.source,
    key_id: usage.keyId,
    user_id: usage.userId,
    run_id: usage.runId,
    agent_id: usage.agentId,
    agent_version: usage.agentVersion,
    thread_id: usage.threadId,
    task_id: usage.taskId,
    project_id: usage.projectId,
    goal_id: usage.goalId,
    end_user_id: usage.endUserId,
    model_id: usage.modelId,
    alias: usage.alias,
    provider_id: usage.providerId,
    provider: usage.provider ?? null,
    upstream_model: usage.upstreamModel,
    api: usage.api,
    outcome: usage.outcome,
    streamed: usage.streamed,
    usage_reported: usage.usageReported,
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cached_input_tokens: usage.cachedInputTokens,
    audio_seconds: usage.audioSeconds,
    cost_micros: usage.costMicros,
    pricing_status: pricingStatusOf(usage),
    attempts: usage.attempts,
    fallbacks_used: usage.fallbacksUsed,
    latency_ms: usage.latencyMs,
    first_byte_ms: usage.firstByteMs,
    upstream_status: usage.upstreamStatus,
    error_code: usage.errorCode,
    created_at: nowIso(),
  };
  // Written as SQL (the same text every time): in a SQLite transaction it runs as a kept statement.
  const columns = Object.keys(row);
  const inserted = await writerRows<{ id: string }>(
    db,
    `insert into usage_events (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')}) on conflict (request_id) do nothing returning id`,
    Object.values(row),
  );
  return inserted.length ? (row as UsageRow) : undefined;
}
