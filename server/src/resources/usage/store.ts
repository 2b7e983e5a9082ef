import type { Executor } from '../../db/database.js';
import { writerRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';
import { addToRunUsage, isFinishedRun } from '../runs/store.js';

/** Who a priced call is attributed to: an application key, or a run (through its run token). */
export type Attribution = {
  applicationId: string;
  keyId: string | null;
  runId: string | null;
  agentId: string | null;
  agentVersion: number | null;
  endUserId: string | null;
};

export type UsageRecord = Attribution & {
  requestId: string;
  source: 'gateway' | 'transcription';
  modelId: string | null;
  alias: string;
  providerId: string | null;
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

/**
 * Records one call once: the request id is unique, so a repeated write (a retried request, a
 * second settle of the same call) leaves the first row. Returns false when it was already there.
 * A run's call that ends after the run did (a stream cut by its cancellation) is added to the
 * run's totals here; one that ends before is counted when the run ends (see `transitionRun`). The
 * run's row is locked first, so the two never miss a call nor count it twice.
 */
export async function recordUsage(db: Executor, usage: UsageRecord): Promise<boolean> {
  if (!usage.runId) return insertUsage(db, usage);
  const runId = usage.runId;
  return db.transaction(async (trx) => {
    const finished = await isFinishedRun(trx, runId);
    const inserted = await insertUsage(trx, usage);
    if (inserted && finished) await addToRunUsage(trx, runId, usage);
    return inserted;
  });
}

async function insertUsage(db: Executor, usage: UsageRecord): Promise<boolean> {
  const row: Record<string, unknown> = {
    id: newId('usage'),
    application_id: usage.applicationId,
    request_id: usage.requestId,
    source: usage.source,
    key_id: usage.keyId,
    run_id: usage.runId,
    agent_id: usage.agentId,
    agent_version: usage.agentVersion,
    end_user_id: usage.endUserId,
    model_id: usage.modelId,
    alias: usage.alias,
    provider_id: usage.providerId,
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
  return inserted.length > 0;
}
