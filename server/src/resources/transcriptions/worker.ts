import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import type { Db, Executor } from '../../db/database.js';
import { guardedAgents } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { startClaimPool } from '../../util/claim-pool.js';
import { pricingOf, resolveAlias } from '../models/store.js';
import { costMicros } from '../usage/pricing.js';
import { recordUsage, type UsageRecord } from '../usage/store.js';
import { outsideRuns } from '../usage/attribution.js';
import { recordEvent } from '../webhooks/outbox.js';
import { onTranscriptionLetGo, onTranscriptionQueued } from './queue.js';
import { transcriptionMachine } from './state-machine.js';
import * as store from './store.js';
import { transcribeUpstream, type UpstreamOutcome } from './upstream.js';
import { readVerboseJson } from './verbose-json.js';

export type Transcriber = {
  /** Takes every job queued now and waits until none is in flight (tests drive it). */
  drain: () => Promise<void>;
  stop(): Promise<void>;
};

type Failure = { code: string; message: string };

/**
 * The transcription worker: claims queued jobs (each replica its own, with SKIP LOCKED on
 * PostgreSQL), sends each one's audio to its alias's provider as `verbose_json`, and records the
 * result, the usage and the `transcription.completed` or `transcription.failed` event in one
 * transaction, only while it still holds the job: a job cancelled or deleted meanwhile is let go
 * (its call aborted at once in this process, at the claim's next extension in another) and nothing
 * is recorded. A crashed
 * worker's claim runs out and another worker takes the job over.
 */
export function startTranscriber(db: Db, sealer: Sealer, config: Pick<Config, 'transcriptions' | 'modelProviders'>, logger: Logger): Transcriber {
  const agents = guardedAgents(config.modelProviders.policy);
  /** The jobs this worker is sending, to abort one at once when it is cancelled or deleted here. */
  const held = new Map<string, AbortController>();
  const stopping = new AbortController();
  // A claim lasts this long without being extended; a worker extends its claims three times as often.
  const claimMs = config.transcriptions.claimMs;

  /** Ends the job with `write` if this worker still holds it, in one transaction with its event and usage. */
  async function settle(
    job: store.Claimed,
    action: 'succeed' | 'fail',
    write: (trx: Executor) => Promise<void>,
    usage: UsageRecord | undefined,
  ): Promise<void> {
    await db.transaction(async (trx) => {
      const held = await store.heldJob(trx, job);
      if (!held) return;
      await write(trx);
      const row = await store.getTranscriptionRow(trx, { id: job.id });
      const { event } = transcriptionMachine.assertTransition(action, held.status);
      await recordEvent(trx, row.application_id, event, store.toTranscription(row));
      if (usage) await recordUsage(trx, usage);
    });
  }

  const fail = (job: store.Claimed, failure: Failure, usage?: UsageRecord) =>
    settle(job, 'fail', (trx) => store.endUnfinished(trx, job.id, 'failed', failure), usage);

  /** The call's usage record, under the job's id: a job is recorded once, whoever settles it. */
  function usageOf(row: store.TranscriptionRow, outcome: UpstreamOutcome, audioSeconds: number | null, cost: number | null, errorCode?: string): UsageRecord {
    const { target } = outcome;
    const failedWith = errorCode ?? (outcome.ok ? null : outcome.error.code);
    return {
      ...outsideRuns(row.application_id, { keyId: row.key_id, userId: null, endUserId: null }),
      requestId: row.id,
      source: 'transcription',
      modelId: target.model.id,
      alias: row.model,
      providerId: target.provider.id,
      upstreamModel: target.model.upstream_model,
      api: 'transcription',
      outcome: failedWith ? 'failed' : 'succeeded',
      streamed: false,
      usageReported: audioSeconds !== null,
      inputTokens: null,
      outputTokens: null,
      cachedInputTokens: null,
      audioSeconds,
      costMicros: cost,
      attempts: outcome.attempts,
      fallbacksUsed: outcome.fallbacksUsed,
      latencyMs: outcome.latencyMs,
      firstByteMs: null,
      upstreamStatus: outcome.ok ? outcome.answer.status : outcome.error.status,
      errorCode: failedWith,
    };
  }

  async function transcribe(job: store.Claimed): Promise<void> {
    const row = await store.getTranscriptionRow(db, { id: job.id }).catch(() => undefined);
    if (row?.lock_token !== job.token) return;
    const chain = (await resolveAlias(db, row.application_id, row.model)).filter((t) => t.model.api === 'transcription');
    if (chain[0]?.model.alias !== row.model) {
      await fail(job, { code: 'model_not_found', message: `The model alias "${row.model}" no longer exists or no longer serves transcription.` });
      return;
    }
    const audio = await store.audioOf(db, job.id);
    if (!audio) {
      await fail(job, { code: 'audio_unavailable', message: 'The audio was deleted before the transcription could start.' });
      return;
    }

    // Extending the claim also tells whether the job is still this worker's: when not, its call is aborted.
    const lost = new AbortController();
    held.set(job.id, lost);
    const signal = AbortSignal.any([lost.signal, stopping.signal]);
    const extend = setInterval(() => {
      store.extendClaim(db, job, claimMs).then(
        (held) => held || lost.abort(new Error('The transcription is no longer held: cancelled, deleted or taken over.')),
        (err: unknown) => logger.warn({ err, transcriptionId: job.id }, 'extending a transcription claim failed'),
      );
    }, claimMs / 3);
    let outcome: UpstreamOutcome;
    try {
      const granularities = row.timestamps === 'word' ? ['segment', 'word'] : ['segment'];
      outcome = await transcribeUpstream(
        chain,
        sealer,
        agents,
        {
          fields: [
            ['response_format', 'verbose_json'],
            ...granularities.map((g): [string, string] => ['timestamp_granularities[]', g]),
            ...(row.language ? [['language', row.language] as [string, string]] : []),
            ...(row.prompt ? [['prompt', row.prompt] as [string, string]] : []),
          ],
          audio: { filename: row.filename, contentType: row.content_type, data: audio },
        },
        signal,
      );
    } catch (err) {
      // Let go (cancelled, deleted, taken over): nothing to record. Stopping: the job goes back to the queue for another worker.
      if (stopping.signal.aborted) await store.releaseClaim(db, job);
      if (signal.aborted) return;
      throw err;
    } finally {
      clearInterval(extend);
      held.delete(job.id);
    }

    if (!outcome.ok) {
      await fail(job, { code: outcome.error.code, message: outcome.error.message }, usageOf(row, outcome, null, null));
      return;
    }
    const transcript = readVerboseJson(outcome.answer.body, row.timestamps);
    if (!transcript) {
      const message = `The provider's answer is not a verbose_json transcription (${outcome.answer.headers['content-type'] ?? 'no content type'}).`;
      await fail(job, { code: 'provider_malformed_response', message }, usageOf(row, outcome, null, null, 'provider_malformed_response'));
      return;
    }
    const cost = transcript.durationSeconds === null ? null : costMicros(pricingOf(outcome.target.model), { audioSeconds: transcript.durationSeconds });
    await settle(
      job,
      'succeed',
      (trx) => store.recordSuccess(trx, job.id, { ...transcript, costMicros: cost }),
      usageOf(row, outcome, transcript.durationSeconds, cost),
    );
  }

  const pool = startClaimPool({
    slots: config.transcriptions.concurrency,
    claim: (free) => store.claimJobs(db, free, claimMs),
    work: transcribe,
    intervalMs: config.transcriptions.intervalMs,
    logger,
    what: 'transcription',
    logFields: (job) => ({ transcriptionId: job.id }),
  });
  const unsubscribe = onTranscriptionQueued(() => void pool.fill());
  const unsubscribeLetGo = onTranscriptionLetGo((id) => held.get(id)?.abort(new Error('The transcription was cancelled or deleted.')));

  return {
    drain: () => pool.drain(),
    async stop() {
      // The pool stops claiming first, so that work ended by the abort does not claim more.
      const stopped = pool.stop();
      stopping.abort(new Error('The server is stopping.'));
      unsubscribe();
      unsubscribeLetGo();
      await stopped;
    },
  };
}
