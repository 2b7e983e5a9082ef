import { tracer } from '../../observability/tracing.js';
import type { ResolvedModel } from '../models/store.js';
import type { Outcome } from './attempt.js';
import type { Usage } from './protocol.js';
import type { StreamEnd } from './relay.js';

/** The OpenTelemetry GenAI operation of each gateway API. */
const OPERATIONS: Record<string, string> = { chat: 'chat', messages: 'chat', embeddings: 'embeddings' };

const usageAttributes = (usage: Usage | undefined) =>
  usage ? { 'gen_ai.usage.input_tokens': usage.inputTokens, 'gen_ai.usage.output_tokens': usage.outputTokens } : {};

/**
 * A CLIENT span for one attempt at a provider, with the GenAI conventions' attributes: the
 * provider, the models asked for and answering, the tokens used; never a prompt or an answer.
 * Undefined when tracing is off.
 */
export function traceAttempt(target: ResolvedModel, api: string, attempt: number, fallbacks: number) {
  const tracing = tracer();
  if (!tracing) return undefined;
  const operation = OPERATIONS[api] ?? api;
  const span = tracing.client(`${operation} ${target.model.upstream_model}`, {
    'gen_ai.operation.name': operation,
    'gen_ai.system': target.provider.kind,
    'gen_ai.provider.name': target.provider.kind,
    'gen_ai.request.model': target.model.upstream_model,
    'switchboard.model.alias': target.model.alias,
    'switchboard.gateway.attempt': attempt,
    'switchboard.gateway.fallbacks': fallbacks,
  });
  return {
    /** How the attempt ended, unless a stream began (it ends with the stream). */
    answered(outcome: Outcome) {
      if (outcome.kind === 'stream') return;
      if (outcome.kind === 'answer') {
        span.set({ 'http.response.status_code': outcome.status, 'gen_ai.response.model': outcome.model, ...usageAttributes(outcome.usage) });
        span.end();
      } else if (outcome.kind === 'refusal') {
        span.set({ 'http.response.status_code': outcome.status, 'error.type': String(outcome.status) });
        span.end(`the provider answered ${outcome.status}`);
      } else {
        span.set({ 'error.type': outcome.failure.kind });
        span.end(outcome.failure.kind);
      }
    },
    streamEnded(end: StreamEnd & { upstreamStatus: number }) {
      span.set({ 'http.response.status_code': end.upstreamStatus, 'switchboard.gateway.outcome': end.outcome, ...usageAttributes(end.usage) });
      span.end(end.errorCode ?? undefined);
    },
  };
}
