import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import { pricingOf, type ModelApi, type ResolvedModel } from '../models/store.js';
import { costMicros } from '../usage/pricing.js';
import { recordUsage, type Attribution, type UsageRecord } from '../usage/store.js';
import type { Usage } from './protocol.js';

/** What is known of a call from its start: who made it, for which alias, when. */
export type CallFacts = { requestId: string; attribution: Attribution; alias: string; api: ModelApi; streamed: boolean; startedMs: number };

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
 * Records the call once, on the pool (never in a request transaction: a stream may last minutes),
 * with what is known: counts are null, not zero, when the provider never reported them. A failed
 * write is logged, not thrown: the caller has its answer either way.
 */
export async function settle(db: Db, facts: CallFacts, ending: Ending, logger: Logger): Promise<number | null> {
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
  await recordUsage(db, record).catch((err: unknown) => logger.error({ err, requestId: facts.requestId }, 'recording the usage of a gateway call failed'));
  return cost;
}
