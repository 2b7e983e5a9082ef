import { envelope, providerErrorFields, type ErrorFields } from '../../problems/provider-envelopes.js';
import { count, eventJson, isObject, type Protocol, type StreamReader, type Usage } from './protocol.js';
import { withData, type SseEvent } from './sse.js';

/** OpenAI's usage object: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`; embeddings have no completion tokens. */
function usageOf(usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  const inputTokens = count(usage.prompt_tokens);
  if (inputTokens === undefined) return undefined;
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  return { inputTokens, outputTokens: count(usage.completion_tokens) ?? 0, cachedInputTokens: Math.min(count(details.cached_tokens) ?? 0, inputTokens) };
}

const wantsUsage = (body: Record<string, unknown>) => isObject(body.stream_options) && body.stream_options.include_usage === true;

/**
 * The stream of chat completion chunks. The gateway always asks for usage (`include_usage`), so
 * the provider sends `usage: null` on every chunk and a last chunk with no choices and the usage;
 * when the caller did not ask for it, both are taken out again and the caller gets the stream it
 * would have had.
 */
function chunkReader(body: Record<string, unknown>): StreamReader {
  const strip = !wantsUsage(body);
  let usage: Usage | undefined;
  let error: ErrorFields | undefined;
  return {
    pass(event: SseEvent) {
      if (event.data === undefined || event.data === '[DONE]') return event.raw;
      const chunk = eventJson(event.data);
      if (chunk.error !== undefined) {
        error = providerErrorFields(chunk, 500, 'server_error');
        return event.raw;
      }
      usage = usageOf(chunk.usage) ?? usage;
      if (!strip || !('usage' in chunk)) return event.raw;
      if (Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage !== null) return null;
      const { usage: _usage, ...rest } = chunk;
      return withData(event, JSON.stringify(rest));
    },
    usage: () => usage,
    error: () => error,
  };
}

export const openai: Protocol = {
  format: 'openai',
  upstreamBody(body, upstreamModel) {
    if (body.stream !== true) return { ...body, model: upstreamModel };
    const options = isObject(body.stream_options) ? body.stream_options : {};
    return { ...body, model: upstreamModel, stream_options: { ...options, include_usage: true } };
  },
  headers: (credential): Record<string, string> => (credential === undefined ? {} : { authorization: `Bearer ${credential}` }),
  reader: chunkReader,
  usageOf: (answer) => (isObject(answer) ? usageOf(answer.usage) : undefined),
  errorEvent: (fields) => `data: ${JSON.stringify(envelope('openai', fields))}\n\n`,
  errorType: (status) => (status >= 500 ? 'server_error' : 'invalid_request_error'),
};
