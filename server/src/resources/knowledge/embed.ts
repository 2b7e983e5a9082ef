import type { Logger } from 'pino';
import type { Executor } from '../../db/database.js';
import type { Sealer } from '../../security/sealer.js';
import { attempt, type AttemptDeps } from '../gateway/attempt.js';
import { openai } from '../gateway/openai.js';
import { failsOver, pause, retryable, retryDelay, type Failure } from '../gateway/retries.js';
import { pricingOf, resolveAlias, retryOf, type ResolvedModel } from '../models/store.js';
import { outsideRuns } from '../usage/attribution.js';
import { costMicros } from '../usage/pricing.js';
import { recordUsage } from '../usage/store.js';

/** Inputs per call: providers take 2,048, but a smaller batch keeps one answer (and one failure) small. */
const BATCH = 96;

export type EmbedDeps = { db: Executor; sealer: Sealer; agents: AttemptDeps['agents']; logger: Logger };

/** Why texts could not be embedded, in words safe to show to whoever imported or queried. */
export class EmbeddingError extends Error {
  constructor(
    readonly code: 'embedding_not_configured' | 'embedding_failed',
    message: string,
  ) {
    super(message);
    this.name = 'EmbeddingError';
  }
}

const NO_CALLER = { anthropicVersion: undefined, anthropicBeta: undefined };

/** One embedding as numbers: a JSON array, or little-endian float32 in base64 (`encoding_format: base64`). */
function embeddingOf(raw: unknown): number[] | undefined {
  if (Array.isArray(raw)) return raw.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (raw as number[]) : undefined;
  if (typeof raw !== 'string') return undefined;
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length % 4 !== 0) return undefined;
  const values = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  return values.every(Number.isFinite) ? values : undefined;
}

/** The vectors of an OpenAI embeddings answer, one per input in input order; undefined when the answer is not one. */
function vectorsOf(json: Buffer, count: number): number[][] | undefined {
  let data: unknown;
  try {
    data = (JSON.parse(json.toString('utf8')) as { data?: unknown } | null)?.data;
  } catch {
    return undefined;
  }
  if (!Array.isArray(data) || data.length !== count) return undefined;
  const vectors = new Array<number[] | undefined>(count);
  for (const item of data as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { index, embedding } = item as { index?: unknown; embedding?: unknown };
    const vector = embeddingOf(embedding);
    if (!vector?.length || !Number.isInteger(index) || (index as number) < 0 || (index as number) >= count || vectors[index as number]) return undefined;
    vectors[index as number] = vector;
  }
  const dimensions = vectors[0]!.length;
  return vectors.every((v) => v?.length === dimensions) ? (vectors as number[][]) : undefined;
}

/** Unit length, so a cosine is a dot product and providers that do not normalise compare alike. */
function normalised(vector: number[]): number[] {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm > 0 ? vector.map((x) => x / norm) : vector;
}

/** How one batch went: its vectors, or why not (a message safe to show); which target answered last and how many tries it took. */
type Batch = {
  vectors: number[][] | null;
  failure: string | null;
  target: ResolvedModel;
  attempts: number;
  fallbacksUsed: number;
  inputTokens: number | null;
  status: number | null;
};

const reasonOf = (failure: Failure | 'malformed') =>
  failure === 'malformed'
    ? 'its answer was not one embedding per input'
    : failure.kind === 'refusal'
      ? `the provider answered ${String(failure.status)}: ${failure.fields.message}`
      : `the provider could not be reached (${failure.failure.message})`;

/** One batch through the alias's chain: retried and failed over as the alias says, like a gateway call. */
async function embedBatch(deps: EmbedDeps, chain: ResolvedModel[], texts: string[], signal: AbortSignal): Promise<Batch> {
  let attempts = 0;
  let last: { failure: Failure | 'malformed'; target: ResolvedModel; fallbacksUsed: number; status: number | null } | undefined;
  for (const [fallbacksUsed, target] of chain.entries()) {
    const retry = retryOf(target.model);
    for (let n = 0; n <= retry.attempts; n++) {
      attempts++;
      const outcome = await attempt(
        target,
        {
          body: { model: target.model.alias, input: texts, encoding_format: 'float' },
          caller: NO_CALLER,
          protocol: openai,
          path: '/embeddings',
          streamed: false,
        },
        deps,
        signal,
        async () => {},
      );
      if (outcome.kind === 'stream') throw new Error('unreachable: an embeddings call is not streamed');
      if (outcome.kind === 'answer') {
        const vectors = vectorsOf(outcome.json, texts.length);
        const inputTokens = outcome.usage?.inputTokens ?? null;
        if (vectors) return { vectors: vectors.map(normalised), failure: null, target, attempts, fallbacksUsed, inputTokens, status: outcome.status };
        // Malformed answers are not retried on the same model: it would most likely answer alike.
        last = { failure: 'malformed', target, fallbacksUsed, status: outcome.status };
        break;
      }
      last = { failure: outcome, target, fallbacksUsed, status: outcome.kind === 'refusal' ? outcome.status : null };
      const delay = n < retry.attempts && retryable(outcome, retry) ? retryDelay(outcome, retry, n) : null;
      if (delay === null) break;
      await pause(delay, signal);
    }
    if (last && last.failure !== 'malformed' && !failsOver(last.failure, retry)) break;
  }
  const { failure, target, fallbacksUsed, status } = last!;
  deps.logger.warn({ alias: chain[0]!.model.alias, attempts, reason: reasonOf(failure) }, 'embedding failed');
  return { vectors: null, failure: reasonOf(failure), target, attempts, fallbacksUsed, inputTokens: null, status };
}

/**
 * Embeds texts with an application's model alias (its `api` must be `embeddings`), through the
 * gateway's own calls: the provider's credential and headers, the address policy, the alias's
 * retries and fallbacks. Each batch is one row of the usage ledger (source `knowledge`), failed
 * or not. The vectors come back normalised.
 */
export async function embedTexts(
  deps: EmbedDeps,
  request: { applicationId: string; alias: string; texts: string[]; requestId: string; signal?: AbortSignal },
): Promise<{ vectors: number[][]; dimensions: number }> {
  const chain = (await resolveAlias(deps.db, request.applicationId, request.alias)).filter((t) => t.model.api === 'embeddings');
  // The alias itself must serve embeddings: its embeddings fallbacks alone would be a different model than asked for.
  if (chain[0]?.model.alias !== request.alias)
    throw new EmbeddingError('embedding_not_configured', `The model alias "${request.alias}" does not exist or does not serve embeddings.`);
  const signal = request.signal ?? new AbortController().signal;
  const vectors: number[][] = [];
  for (let start = 0; start < request.texts.length; start += BATCH) {
    const began = performance.now();
    const batch = await embedBatch(deps, chain, request.texts.slice(start, start + BATCH), signal);
    const { model, provider } = batch.target;
    const outcome = batch.vectors ? 'succeeded' : signal.aborted ? 'aborted' : 'failed';
    await recordUsage(deps.db, {
      ...outsideRuns(request.applicationId, { keyId: null, userId: null, endUserId: null }),
      requestId: `${request.requestId}:${String(start / BATCH)}`,
      source: 'knowledge',
      modelId: model.id,
      alias: request.alias,
      providerId: provider.id,
      upstreamModel: model.upstream_model,
      api: 'embeddings',
      outcome,
      streamed: false,
      usageReported: batch.inputTokens !== null,
      inputTokens: batch.inputTokens,
      outputTokens: batch.inputTokens === null ? null : 0,
      cachedInputTokens: null,
      audioSeconds: null,
      costMicros: batch.inputTokens === null ? null : costMicros(pricingOf(model), { inputTokens: batch.inputTokens, outputTokens: 0 }),
      attempts: batch.attempts,
      fallbacksUsed: batch.fallbacksUsed,
      latencyMs: Math.round(performance.now() - began),
      firstByteMs: null,
      upstreamStatus: batch.status,
      errorCode: batch.vectors ? null : 'embedding_failed',
    });
    if (!batch.vectors)
      throw new EmbeddingError(
        'embedding_failed',
        `The embedding model "${request.alias}" failed after ${String(batch.attempts)} attempt(s): ${batch.failure ?? ''}.`,
      );
    vectors.push(...batch.vectors);
  }
  return { vectors, dimensions: vectors[0]?.length ?? 0 };
}
