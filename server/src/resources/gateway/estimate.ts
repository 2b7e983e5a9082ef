import { pricingOf, type ModelApi, type ResolvedModel } from '../models/store.js';
import { costMicros } from '../usage/pricing.js';

/** Output tokens assumed when neither the call nor the model bounds them. */
const DEFAULT_OUTPUT_TOKENS = 4096;

const positive = (value: unknown) => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined);

/**
 * An upper bound of a call's cost, for budgets to reserve: its input priced at one token per byte
 * of the request (a token covers at least one byte), its output at the most it may produce (the
 * call's `max_completion_tokens` or `max_tokens`, else the model's `maxOutputTokens`, else 4,096),
 * at the dearest prices among the models it may fall back to. A model without a price adds 0.
 */
/**
 * Audio bytes a second of sound takes at the least: 8 kbit/s, below the bitrates speech is sent in,
 * so a duration worked out from the size is an upper bound.
 */
const AUDIO_BYTES_PER_SECOND = 1_000;

/** An upper bound of a transcription's cost: the audio's longest possible duration, at the dearest model of the chain. */
export function estimateAudioMicros(bytes: number, chain: ResolvedModel[]): number {
  const audioSeconds = Math.max(1, Math.ceil(bytes / AUDIO_BYTES_PER_SECOND));
  return Math.max(0, ...chain.map(({ model }) => costMicros(pricingOf(model), { audioSeconds }) ?? 0));
}

export function estimateMicros(api: ModelApi, body: Record<string, unknown>, chain: ResolvedModel[]): number {
  const inputTokens = Buffer.byteLength(JSON.stringify(body));
  const requested = positive(body.max_completion_tokens) ?? positive(body.max_tokens);
  let highest = 0;
  for (const { model } of chain) {
    const outputTokens = api === 'embeddings' ? 0 : (requested ?? model.max_output_tokens ?? DEFAULT_OUTPUT_TOKENS);
    highest = Math.max(highest, costMicros(pricingOf(model), { inputTokens, outputTokens }) ?? 0);
  }
  return highest;
}
