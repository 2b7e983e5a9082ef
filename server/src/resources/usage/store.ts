import type { Executor } from '../../db/database.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

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
 */
export async function recordUsage(db: Executor, usage: UsageRecord): Promise<boolean> {
  const inserted = (await db('usage_events')
    .insert({
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
    })
    .onConflict('request_id')
    .ignore()
    .returning('id')) as unknown[];
  return inserted.length > 0;
}

/**
 * What a run's calls through the gateway used: token sums (calls that never reported usage count
 * nothing), and their cost, which is null when any of its calls could not be priced (a partial
 * sum would understate it); `pricedCostMicros` is the sum of the calls that could be, and
 * `unpricedCalls` how many could not.
 */
export async function runUsageTotals(
  db: Executor,
  runId: string,
): Promise<{ calls: number; inputTokens: number; outputTokens: number; costMicros: number | null; pricedCostMicros: number; unpricedCalls: number }> {
  const row = await db('usage_events').where({ run_id: runId }).first<{
    calls: number | string;
    input_tokens: number | string;
    output_tokens: number | string;
    cost_micros: number | string;
    unpriced: number | string | null;
  }>(db.raw('count(*) as calls'), db.raw('coalesce(sum(input_tokens), 0) as input_tokens'), db.raw('coalesce(sum(output_tokens), 0) as output_tokens'), db.raw('coalesce(sum(cost_micros), 0) as cost_micros'), db.raw('sum(case when cost_micros is null then 1 else 0 end) as unpriced'));
  const unpricedCalls = Number(row.unpriced ?? 0);
  const pricedCostMicros = Number(row.cost_micros);
  return {
    calls: Number(row.calls),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    costMicros: unpricedCalls > 0 ? null : pricedCostMicros,
    pricedCostMicros,
    unpricedCalls,
  };
}
