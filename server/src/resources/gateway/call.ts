import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import type { AuditTrail } from '../audit/trail.js';
import { ClientClosed, ProblemError } from '../../problems/problems.js';
import { envelope } from '../../problems/provider-envelopes.js';
import { resolveAlias, retryOf, type ModelApi, type ResolvedModel } from '../models/store.js';
import { attempt, type AttemptDeps, type Outcome } from './attempt.js';
import { assertModelAllowed, attributionOf, type GatewayCaller } from '../usage/attribution.js';
import { reserveCall } from '../budgets/enforcement.js';
import { estimateMicros } from './estimate.js';
import type { CallerHeaders, Protocol } from './protocol.js';
import { failsOver, pause, retryable, retryDelay, type Failure } from './retries.js';
import { settle, type CallFacts, type Ending } from './settle.js';
import { traceAttempt } from './trace.js';
import type { GatewayMetrics } from '../../observability/metrics.js';

/**
 * One gateway route: the API its aliases must serve, the provider's path for it, its wire format,
 * whether it streams, and whether its calls are recorded (counting tokens consumes none).
 */
export type GatewayRoute = { api: ModelApi; path: string; protocol: Protocol; streams: boolean; recorded: boolean };

/** A call as the route's handler received it. `db` is the pool: nothing here runs in a request transaction. */
export type GatewayCall = GatewayCaller & { db: Db; body: Record<string, unknown>; caller: CallerHeaders; ctx: Context; requestId: string; audit: AuditTrail };

/** `metrics`: the gateway's counters, when metrics are on. */
export type GatewayDeps = AttemptDeps & { logger: Logger; metrics?: GatewayMetrics };

/** What the route answers: the provider's answer (JSON bytes or a stream), or its refusal in the route's envelope. */
export type GatewayReply = { status: number; body: unknown; headers: Record<string, string>; contentType?: string; stream?: NodeJS.ReadableStream };

/** Statuses of a provider's refusal the routes answer as they are; any other refusal of the request is a 400. */
const PASSED_ON = [400, 404, 413, 429];
const ACCOUNT_REFUSALS = [401, 402, 403, 407];

/** A header carries printable ASCII: a model name with anything else (or edge spaces) is percent-encoded. */
const headerValue = (text: string) => (/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(text) ? text : encodeURIComponent(text));

const answerHeaders = (target: ResolvedModel, fallbacks: number) => ({
  'Switchboard-Model': headerValue(target.model.upstream_model),
  'Switchboard-Fallbacks': String(fallbacks),
});

const errorCodeOf = (failure: Failure) =>
  failure.kind === 'refusal'
    ? failure.status >= 500
      ? 'upstream_error'
      : 'upstream_refused'
    : {
        timeout: 'upstream_timeout',
        unreachable: 'upstream_unreachable',
        address: 'upstream_address_refused',
        malformed: 'upstream_malformed',
        client: 'client_closed',
      }[failure.failure.kind];

/** The last failure, once retries and fallbacks are spent: the provider's refusal of the request as it said it, anything else the gateway's 502 or 504. */
function failureReply(failure: Failure, alias: string, protocol: Protocol, tries: string): GatewayReply {
  if (failure.kind === 'broken') {
    if (failure.failure.kind === 'timeout')
      throw new ProblemError('upstream-timeout', `The provider of "${alias}" timed out: ${failure.failure.message} (${tries}).`);
    throw new ProblemError('upstream-error', `The provider of "${alias}" could not answer: ${failure.failure.message} (${tries}).`);
  }
  const { status, fields } = failure;
  // Its message may quote the credential it refused: it is not passed on.
  if (ACCOUNT_REFUSALS.includes(status))
    throw new ProblemError('upstream-error', `The provider of "${alias}" refused the gateway's credential for it (${status}; ${tries}).`);
  if (status >= 500) throw new ProblemError('upstream-error', `The provider of "${alias}" answered ${status}: ${fields.message} (${tries}).`);
  const passed = PASSED_ON.includes(status) ? status : 400;
  // A 429 passed on says when to come back (the provider's word, else a second).
  const headers: Record<string, string> = passed === 429 ? { 'Retry-After': String(Math.max(1, Math.ceil((failure.retryAfterMs ?? 1000) / 1000))) } : {};
  return { status: passed, body: envelope(protocol.format, fields), headers };
}

/**
 * A gateway call: resolves the alias, then tries its model and its fallbacks in order, each as
 * often as its retry policy allows, until one answers; only before any byte reached the caller.
 * Exactly one usage record is written when the call ends (on a route whose calls are recorded):
 * now for an answer, a refusal or a failure, or when a stream ends (whichever way, the caller
 * leaving included).
 */
export async function proxyCall(call: GatewayCall, route: GatewayRoute, deps: GatewayDeps): Promise<GatewayReply> {
  const startedMs = performance.now();
  const alias = call.body.model as string;
  await assertModelAllowed(call.db, call, alias);
  const chain = await resolveAlias(call.db, call.auth.applicationId, alias);
  const primary = chain[0];
  if (!primary) throw new ProblemError('model-not-found', `The model alias "${alias}" does not exist in this application.`);
  if (primary.model.api !== route.api) {
    const detail = `The model alias "${alias}" serves the ${primary.model.api} API, not ${route.api}: call it on its own route.`;
    throw new ProblemError('bad-request', detail, { errors: [{ pointer: '/model', in: 'body', detail }] });
  }
  const streamed = route.streams && call.body.stream === true;
  const facts: CallFacts = {
    requestId: call.requestId,
    attribution: await attributionOf(call.db, call),
    alias,
    api: route.api,
    streamed,
    startedMs,
    audit: call.audit,
  };
  // Before anything goes out, the budgets that cover the call hold an upper bound of its cost (402 when one has no room).
  if (route.recorded) await reserveCall(call.db, facts.attribution, call.requestId, estimateMicros(route.api, call.body, chain));
  const request = { body: call.body, caller: call.caller, protocol: route.protocol, path: route.path, streamed };
  // A call that is not recorded (counting tokens costs nothing) is still audited once answered.
  const record = async (ending: Ending) => {
    if (route.recorded) return settle(call.db, facts, ending, deps.logger, deps.metrics);
    if (ending.outcome === 'succeeded') await call.audit.record(call.db, { alias, model: ending.target.model.upstream_model, outcome: ending.outcome }, 200);
    return null;
  };

  // The caller leaving abandons the call: the provider sees its connection close.
  const gone = new AbortController();
  const res = call.ctx.res;
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });

  let attempts = 0;
  /** The caller left: the call is recorded as aborted, and nothing more is tried. */
  const abandon = async (target: ResolvedModel, fallbacks: number): Promise<never> => {
    await record({
      outcome: 'aborted',
      target,
      usage: undefined,
      attempts,
      fallbacksUsed: fallbacks,
      firstByteMs: null,
      upstreamStatus: null,
      errorCode: 'client_closed',
    });
    throw new ClientClosed();
  };
  let last: { target: ResolvedModel; failure: Failure; fallbacks: number } | undefined;
  for (const [fallbacks, target] of chain.entries()) {
    const retry = retryOf(target.model);
    for (let retries = 0; ; retries++) {
      if (gone.signal.aborted) return abandon(target, fallbacks);
      attempts++;
      const tried = attempts;
      const span = traceAttempt(target, route.api, tried, fallbacks);
      const outcome: Outcome = await attempt(target, request, deps, gone.signal, async (end) => {
        span?.streamEnded(end);
        const { outcome: ended, usage, errorCode, firstEventAt, upstreamStatus } = end;
        const firstByteMs = Math.round(firstEventAt - startedMs);
        await record({ outcome: ended, target, usage, attempts: tried, fallbacksUsed: fallbacks, firstByteMs, upstreamStatus, errorCode });
      });
      span?.answered(outcome);
      if (outcome.kind === 'stream') {
        const headers = { ...answerHeaders(target, fallbacks), 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' };
        return { status: 200, body: '', stream: outcome.out, contentType: 'text/event-stream; charset=utf-8', headers };
      }
      if (outcome.kind === 'answer') {
        const { status, usage } = outcome;
        const firstByteMs = Math.round(performance.now() - startedMs);
        const cost = await record({
          outcome: 'succeeded',
          target,
          usage,
          attempts,
          fallbacksUsed: fallbacks,
          firstByteMs,
          upstreamStatus: status,
          errorCode: null,
        });
        const headers = { ...answerHeaders(target, fallbacks), ...(cost === null ? {} : { 'Switchboard-Cost-Micros': String(cost) }) };
        return { status: 200, body: outcome.json, contentType: 'application/json', headers };
      }
      last = { target, failure: outcome, fallbacks };
      if (outcome.kind === 'broken' && outcome.failure.kind === 'client') return abandon(target, fallbacks);
      if (retries >= retry.attempts || !retryable(outcome, retry)) break;
      const delay = retryDelay(outcome, retry, retries);
      if (delay === null) break;
      await pause(delay, gone.signal);
    }
    if (!failsOver(last.failure, retry)) break;
  }
  const { target, failure, fallbacks } = last!;
  const upstreamStatus = failure.kind === 'refusal' ? failure.status : null;
  const errorCode = errorCodeOf(failure);
  await record({ outcome: 'failed', target, usage: undefined, attempts, fallbacksUsed: fallbacks, firstByteMs: null, upstreamStatus, errorCode });
  // What failed, for the operator; never a body (a provider's message may quote the prompt).
  deps.logger.warn({ requestId: call.requestId, alias, providerId: target.provider.id, attempts, fallbacks, upstreamStatus, errorCode }, 'gateway call failed');
  const tries = `${attempts} attempt${attempts > 1 ? 's' : ''}${fallbacks ? `, ${fallbacks} fallback${fallbacks > 1 ? 's' : ''}` : ''}`;
  return failureReply(failure, alias, route.protocol, tries);
}
