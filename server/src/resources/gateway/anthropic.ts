import { envelope, providerErrorFields, type ErrorFields } from '../../problems/provider-envelopes.js';
import { count, eventJson, isObject, type Protocol, type StreamReader, type Usage } from './protocol.js';
import type { SseEvent } from './sse.js';

/** The API version sent when the caller names none: the one every Anthropic SDK and proxy understands. */
const DEFAULT_VERSION = '2023-06-01';

/** Anthropic's usage counters, as reported so far (a stream reports them in `message_start`, then `message_delta`). */
type Counters = { input_tokens?: number; output_tokens?: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number };

const FIELDS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

/** Later counters replace earlier ones (`message_delta` gives cumulative totals); fields a report leaves out stay. */
function merge(into: Counters | undefined, usage: unknown): Counters | undefined {
  if (!isObject(usage)) return into;
  const next: Counters = { ...into };
  for (const field of FIELDS) {
    const value = count(usage[field]);
    if (value !== undefined) next[field] = value;
  }
  return next;
}

/** Anthropic's `input_tokens` leaves out the prompt-cache reads and writes: here input includes them, and the reads are the cached input. */
function normalise(counters: Counters | undefined): Usage | undefined {
  if (counters?.input_tokens === undefined) return undefined;
  const cached = counters.cache_read_input_tokens ?? 0;
  return {
    inputTokens: counters.input_tokens + cached + (counters.cache_creation_input_tokens ?? 0),
    outputTokens: counters.output_tokens ?? 0,
    cachedInputTokens: cached,
  };
}

/** The named events of a message stream, passed on unchanged while the usage is read from `message_start` and `message_delta`. */
function messageReader(): StreamReader {
  let counters: Counters | undefined;
  let error: ErrorFields | undefined;
  return {
    pass(event: SseEvent) {
      if (event.data === undefined) return event.raw;
      const data = eventJson(event.data);
      const type = event.name ?? data.type;
      if (type === 'message_start' && isObject(data.message)) counters = merge(counters, data.message.usage);
      else if (type === 'message_delta') counters = merge(counters, data.usage);
      else if (type === 'error') error = providerErrorFields(data, 500, 'api_error');
      return event.raw;
    },
    usage: () => normalise(counters),
    error: () => error,
  };
}

export const anthropic: Protocol = {
  format: 'anthropic',
  upstreamBody: (body, upstreamModel) => ({ ...body, model: upstreamModel }),
  headers: (credential, caller) => ({
    ...(credential === undefined ? {} : { 'x-api-key': credential }),
    'anthropic-version': caller.anthropicVersion ?? DEFAULT_VERSION,
    ...(caller.anthropicBeta ? { 'anthropic-beta': caller.anthropicBeta } : {}),
  }),
  reader: messageReader,
  usageOf: (answer) => (isObject(answer) ? normalise(merge(undefined, answer.usage)) : undefined),
  errorEvent: (fields) => `event: error\ndata: ${JSON.stringify(envelope('anthropic', fields))}\n\n`,
  errorType: (status) => (status >= 500 ? 'api_error' : 'invalid_request_error'),
};
