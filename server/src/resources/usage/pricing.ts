import type { ModelPricing } from '../models/store.js';

/** What one call consumed; `inputTokens` includes `cachedInputTokens`. */
export type Consumption = { inputTokens?: number | null; outputTokens?: number | null; cachedInputTokens?: number | null; audioSeconds?: number | null };

const MILLION = 1_000_000n;
const MS_PER_MINUTE = 60_000n;

/**
 * The cost in micro-USD of one call at `pricing`, computed exactly (BigInt: prices times tokens
 * overflow a double's integers) and rounded half up to the micro-USD once; null when something the
 * call consumed has no price (unpriced, never free). Cached input tokens take the input price when
 * their own is unknown.
 */
export function costMicros(pricing: ModelPricing, used: Consumption): number | null {
  const cachedCount = Math.min(used.cachedInputTokens ?? 0, used.inputTokens ?? 0);
  const parts: [quantity: bigint, price: number | null, scale: bigint][] = [
    [BigInt((used.inputTokens ?? 0) - cachedCount), pricing.inputMicrosPerMillionTokens, MS_PER_MINUTE],
    [BigInt(cachedCount), pricing.cachedInputMicrosPerMillionTokens ?? pricing.inputMicrosPerMillionTokens, MS_PER_MINUTE],
    [BigInt(used.outputTokens ?? 0), pricing.outputMicrosPerMillionTokens, MS_PER_MINUTE],
    [BigInt(Math.round((used.audioSeconds ?? 0) * 1000)), pricing.microsPerAudioMinute, MILLION],
  ];
  // Every part in micro-USD x MILLION x MS_PER_MINUTE: tokens are priced per million, audio per minute (of milliseconds).
  let total = 0n;
  for (const [quantity, price, scale] of parts) {
    if (quantity === 0n) continue;
    if (price === null) return null;
    total += quantity * BigInt(price) * scale;
  }
  const denominator = MILLION * MS_PER_MINUTE;
  return Number((total * 2n + denominator) / (denominator * 2n));
}
