import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import { pricingOf, type ModelApi, type ResolvedModel } from '../models/store.js';
import { costMicros } from '../usage/pricing.js';
import { recordUsage, type Attribution, type UsageRecord } from '../usage/store.js';
import type { Usage } from './protocol.js';
import type { AuditTrail } from '../audit/trail.js';
import type { GatewayMetrics } from '../../observability/metrics.js';

/** What is known of a call from its start: who made it, for which alias, when. */
export type CallFacts = {
  requestId: string;
  attribution: Attribution;
  alias: string;
  api: ModelApi;
  streamed: boolean;
  startedMs: number;
  /** The request's audit event, recorded with the usage when the call was answered. */
  audit: AuditTrail;
};

/** How a call ended, as far as the gateway saw it. */
export type Ending = {
  outcome: UsageRecord['outcome'];
  /** The model tried last (the one that answered, when one did). */
  target: ResolvedModel;
  usage: Usage | undefined;
  attempts: number;
  fallbacksUsed: number;
  /** When the first byte of the answer went to the caller (ms after the start); null when none did. */
  firstByteMs: number | null;
  upstreamStatus: number | null;
  errorCode: string | null;
};

/** The call's cost at the prices of the model that answered; null when unpriced, or when the provider never said what was used. */
export const costOf = (ending: Pick<Ending, 'target' | 'usage'>) => (ending.usage ? costMicros(pricingOf(ending.target.model), ending.usage) : null);

/**
 * Records the call once, in a transaction of its own (never the request's: a stream may last
 * minutes), with what is known: counts are null, not zero, when the provider never reported them.
 * A call that was answered (a success, or a stream that began) is audited in the same transaction.
 * A failed write is logged, not thrown: the caller has its answer either way.
 */
export async function settle(db: Db, facts: CallFacts, ending: Ending, logger: Logger, metrics?: GatewayMetrics): Promise<number | null> {
  const { model, provider } = ending.target;
  const cost = costOf(ending);
  const usage = ending.usage;
  const record: UsageRecord = {
    ...facts.attribution,
    requestId: facts.requestId,
    source: 'gateway',
    modelId: model.id,
    alias: facts.alias,
    providerId: provider.id,
    upstreamModel: model.upstream_model,
    api: facts.api,
    outcome: ending.outcome,
    streamed: facts.streamed,
    usageReported: usage !== undefined,
    inputTokens: usage?.inputTokens ?? null,
    outputTokens: usage?.outputTokens ?? null,
    cachedInputTokens: usage?.cachedInputTokens ?? null,
    audioSeconds: null,
    costMicros: cost,
    attempts: ending.attempts,
    fallbacksUsed: ending.fallbacksUsed,
    latencyMs: Math.round(performance.now() - facts.startedMs),
    firstByteMs: ending.firstByteMs,
    upstreamStatus: ending.upstreamStatus,
    errorCode: ending.errorCode,
  };
  const answered = ending.outcome === 'succeeded' || ending.firstByteMs !== null;
  await db
    .transaction(async (trx) => {
      await recordUsage(trx, record);
      if (!answered) return;
      const after = { alias: facts.alias, model: model.upstream_model, outcome: ending.outcome, streamed: facts.streamed, costMicros: cost };
      await facts.audit.record(trx, { ...after, inputTokens: usage?.inputTokens ?? null, outputTokens: usage?.outputTokens ?? null }, 200);
    })
    .catch((err: unknown) => logger.error({ err, requestId: facts.requestId }, 'recording the usage of a gateway call failed'));
  metrics?.call({
    provider: provider.kind,
    alias: facts.alias,
    outcome: ending.outcome,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens,
    costMicros: cost,
  });
  return cost;
}
