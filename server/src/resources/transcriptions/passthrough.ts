import type { components } from '../../generated/openapi.js';
import { defineHandlers, ownTransaction, type HandlerResult } from '../handler-types.js';
import { guardedAgents, type AddressPolicy } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { uploadedFile } from '../../util/uploaded-file.js';
import { pricingOf, resolveAlias } from '../models/store.js';
import { assertModelAllowed, attributionOf } from '../usage/attribution.js';
import { costMicros } from '../usage/pricing.js';
import { recordUsage, type UsageRecord } from '../usage/store.js';
import { reserveCall } from '../budgets/enforcement.js';
import { estimateAudioMicros } from '../gateway/estimate.js';
import { transcribeUpstream, UpstreamAborted, type UpstreamAnswer, type UpstreamOutcome } from './upstream.js';

type Result = HandlerResult<'createAudioTranscription'>;
type ErrorStatus = Exclude<Result['status'], 200>;
type OpenAIErrorEnvelope = components['schemas']['OpenAIErrorEnvelope'];
/** What the usage record of one call says beyond who made it. */
type CallRecord = Pick<UpstreamOutcome, 'target' | 'attempts' | 'fallbacksUsed' | 'latencyMs'> &
  Pick<UsageRecord, 'outcome' | 'audioSeconds' | 'upstreamStatus' | 'errorCode'>;

/** The error statuses the operation declares: a provider's other statuses are passed on as 502. */
const PASSED_ON = new Set<number>([400, 404, 413, 415, 422, 429, 500, 502, 503, 504]);

/**
 * An error in OpenAI's envelope, returned (not thrown) so that it is the answer whatever renders the
 * errors thrown elsewhere in the pipeline.
 */
const openaiError = (status: ErrorStatus, message: string, type: string, code: string | null, param: string | null = null): Result => ({
  status,
  body: { error: { message, type, code, param } } satisfies OpenAIErrorEnvelope,
});

/**
 * The provider's answer as it sent it: its status, body and content type; a 429 keeps the
 * provider's Retry-After (1 s when it sent none, as a 429 always says when to come back).
 */
const passedOn = (status: number, answer: UpstreamAnswer): Result =>
  ({
    status,
    body: answer.body,
    contentType: typeof answer.headers['content-type'] === 'string' ? answer.headers['content-type'] : 'application/json',
    headers: status === 429 ? { 'Retry-After': /^\d+$/.test(answer.headers['retry-after'] ?? '') ? answer.headers['retry-after']! : '1' } : undefined,
  }) as unknown as Result;

/**
 * Seconds of audio the answer reports: `duration` of `verbose_json`, or `usage.seconds` of a
 * `json` answer (recent OpenAI models); the text formats say nothing of it.
 */
function audioSecondsOf(answer: UpstreamAnswer): number | null {
  if (!(answer.headers['content-type'] ?? '').includes('json')) return null;
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { duration?: unknown; usage?: { type?: unknown; seconds?: unknown } };
    if (typeof parsed.duration === 'number' && parsed.duration >= 0) return parsed.duration;
    if (parsed.usage?.type === 'duration' && typeof parsed.usage.seconds === 'number' && parsed.usage.seconds >= 0) return parsed.usage.seconds;
  } catch {
    // An answer that is not JSON reports no duration.
  }
  return null;
}

function failureOf(outcome: Extract<UpstreamOutcome, { ok: false }>): Result {
  const { error } = outcome;
  if (error.code === 'provider_timeout') return openaiError(504, error.message, 'api_error', 'provider_timeout');
  if (!error.answer) return openaiError(502, error.message, 'api_error', error.code);
  // A provider's 401 or 403 is about the gateway's credential, not the caller's: the caller cannot fix it.
  if (!PASSED_ON.has(error.answer.status)) return openaiError(502, error.message, 'api_error', 'provider_error');
  return passedOn(error.answer.status, error.answer);
}

/** OpenAI's `POST /v1/audio/transcriptions`, synchronous: the form forwarded through the alias's chain, the answer returned as it came. */
export function audioTranscriptionHandlers(sealer: Sealer, policy: AddressPolicy) {
  const agents = guardedAgents(policy);
  return defineHandlers({
    // Its own transactions: the provider's answer may take minutes, no transaction (nor SQLite's writer) may wait for it.
    createAudioTranscription: ownTransaction<'createAudioTranscription'>(async ({ db, auth, run, body, requestId, ctx, audit }) => {
      if (body.stream === true) {
        return openaiError(
          400,
          'This gateway answers transcriptions whole: send stream=false or leave it out.',
          'invalid_request_error',
          'unsupported_value',
          'stream',
        );
      }
      await assertModelAllowed(db, { auth, run }, body.model);
      const chain = await resolveAlias(db, auth.applicationId, body.model);
      if (!chain.length)
        return openaiError(404, `The model '${body.model}' does not exist in this application.`, 'invalid_request_error', 'model_not_found', 'model');
      if (chain[0]!.model.api !== 'transcription') {
        const message = `The model '${body.model}' serves the ${chain[0]!.model.api} API, not transcription.`;
        return openaiError(400, message, 'invalid_request_error', 'invalid_model', 'model');
      }
      const attribution = await attributionOf(db, { auth, run });
      const file = uploadedFile(body.file);
      const usage = (call: CallRecord): UsageRecord => ({
        ...attribution,
        requestId,
        source: 'gateway',
        modelId: call.target.model.id,
        alias: body.model,
        providerId: call.target.provider.id,
        upstreamModel: call.target.model.upstream_model,
        api: 'transcription',
        outcome: call.outcome,
        streamed: false,
        usageReported: call.audioSeconds !== null,
        inputTokens: null,
        outputTokens: null,
        cachedInputTokens: null,
        audioSeconds: call.audioSeconds,
        costMicros: call.audioSeconds === null ? null : costMicros(pricingOf(call.target.model), { audioSeconds: call.audioSeconds }),
        attempts: call.attempts,
        fallbacksUsed: call.fallbacksUsed,
        latencyMs: call.latencyMs,
        firstByteMs: null,
        upstreamStatus: call.upstreamStatus,
        errorCode: call.errorCode,
      });
      const targets = chain.filter((t) => t.model.api === 'transcription');
      // The budgets that cover the call hold the longest the audio could last, priced, before it goes out.
      await reserveCall(db, attribution, requestId, estimateAudioMicros(file.data.length, targets));
      const fields = Object.entries(body).flatMap(([name, value]): [string, string][] =>
        name === 'file' || name === 'model' ? [] : [value].flat().map((v) => [name, String(v)]),
      );
      // The caller going away aborts the call upstream.
      const gone = new AbortController();
      ctx.res.once('close', () => ctx.res.writableFinished || gone.abort(new Error('The client went away.')));
      const form = { fields, audio: { filename: file.filename, contentType: file.contentType, data: file.data } };
      let outcome: UpstreamOutcome;
      try {
        outcome = await transcribeUpstream(targets, sealer, agents, form, gone.signal);
      } catch (err) {
        if (!(err instanceof UpstreamAborted)) throw err;
        // Nobody is left to answer; the call is recorded as far as it went.
        await recordUsage(db, usage({ ...err.progress, outcome: 'aborted', audioSeconds: null, upstreamStatus: null, errorCode: null }));
        throw err;
      }
      const audioSeconds = outcome.ok ? audioSecondsOf(outcome.answer) : null;
      const record = usage({
        ...outcome,
        outcome: outcome.ok ? 'succeeded' : 'failed',
        audioSeconds,
        upstreamStatus: outcome.ok ? outcome.answer.status : outcome.error.status,
        errorCode: outcome.ok ? null : outcome.error.code,
      });
      await db.transaction(async (trx) => {
        await recordUsage(trx, record);
        const after = { alias: body.model, model: record.upstreamModel, audioSeconds, costMicros: record.costMicros };
        if (outcome.ok) await audit.record(trx, after, 200);
      });
      return outcome.ok ? passedOn(200, outcome.answer) : failureOf(outcome);
    }),
  });
}
