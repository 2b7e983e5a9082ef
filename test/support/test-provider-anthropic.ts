import { argumentsJson, estimateTokens, outputTokens, randomId, splitArguments, tokenise, type Reply, type SseEvent } from './test-provider-script.js';

/** Anthropic's wire formats: messages (whole and streamed) and errors. */

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit.' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

/** `{type: 'error', error: {type, message}}`, Anthropic's error body. */
export function anthropicError(status: number, error: Reply['error'] = {}) {
  const known = ERROR_TYPES[status] ?? { type: status >= 500 ? 'api_error' : 'invalid_request_error', message: 'Internal server error' };
  return { type: 'error', error: { type: error.type ?? known.type, message: error.message ?? known.message } };
}

/** The answer of `POST /v1/messages/count_tokens`: the prompt's tokens (scripted as `usage.input`, else estimated). */
export const tokenCount = (reply: Reply, body: Record<string, unknown>) => ({
  input_tokens: reply.usage ? reply.usage.input : estimateTokens([body.system, body.messages]),
});

/** Why a messages request is refused before any reply is played, as Anthropic would say it. */
export function checkMessagesRequest(body: Record<string, unknown>): string | undefined {
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: Field required';
  return undefined;
}

const STOP_REASONS: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' };
const stopReason = (reply: Reply) =>
  reply.finishReason ? (STOP_REASONS[reply.finishReason] ?? reply.finishReason) : reply.toolCalls?.length ? 'tool_use' : 'end_turn';
const toolId = (reply: Reply, i: number) => reply.toolCalls?.[i]?.id ?? `toolu_01${randomId('', 22)}`;
const replyText = (reply: Reply) => reply.text ?? (reply.toolCalls?.length ? '' : 'Hello from the test provider.');
/** Anthropic's usage counters of the prompt: `input_tokens` without the cache reads and writes, which have their own. */
const promptUsage = (reply: Reply, body: Record<string, unknown>) => {
  if (!reply.usage) return { input_tokens: estimateTokens([body.system, body.messages]), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const read = reply.usage.cachedInput ?? 0;
  const written = reply.usage.cacheWrite ?? 0;
  return { input_tokens: reply.usage.input - read - written, cache_creation_input_tokens: written, cache_read_input_tokens: read };
};

const parseArguments = (json: string): unknown => {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
};

export function message(reply: Reply, body: Record<string, unknown>) {
  const text = replyText(reply);
  const content = [
    ...(text ? [{ type: 'text', text }] : []),
    ...(reply.toolCalls ?? []).map((call, i) => ({ type: 'tool_use', id: toolId(reply, i), name: call.name, input: parseArguments(argumentsJson(call)) })),
  ];
  return {
    id: randomId('msg_01', 22),
    type: 'message',
    role: 'assistant',
    model: reply.model ?? body.model,
    content,
    stop_reason: stopReason(reply),
    stop_sequence: null,
    ...(reply.usage === false
      ? {}
      : {
          usage: {
            ...promptUsage(reply, body),
            output_tokens: outputTokens(reply, text),
            service_tier: 'standard',
          },
        }),
  };
}

/**
 * The named events of a streamed answer, as Anthropic sends them: `message_start` (input tokens,
 * and the one output token counted so far), for each block `content_block_start`, deltas
 * (`text_delta` word by word, `input_json_delta` in pieces) and `content_block_stop`, a `ping`
 * after the first block starts, `message_delta` (stop reason, cumulative output tokens) and
 * `message_stop`. With `usage: false` the usage objects are left out.
 */
export function messageEvents(reply: Reply, body: Record<string, unknown>): SseEvent[] {
  const text = replyText(reply);
  const event = (type: string, data: Record<string, unknown>): SseEvent => ({ event: type, data: JSON.stringify({ type, ...data }) });
  const startUsage = {
    ...promptUsage(reply, body),
    output_tokens: 1,
    service_tier: 'standard',
  };
  const events: SseEvent[] = [
    event('message_start', {
      message: {
        id: randomId('msg_01', 22),
        type: 'message',
        role: 'assistant',
        model: reply.model ?? body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        ...(reply.usage === false ? {} : { usage: startUsage }),
      },
    }),
  ];
  let index = 0;
  if (text) {
    events.push(event('content_block_start', { index, content_block: { type: 'text', text: '' } }));
    events.push(event('ping', {}));
    for (const piece of tokenise(text)) events.push(event('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
    events.push(event('content_block_stop', { index }));
    index++;
  }
  (reply.toolCalls ?? []).forEach((call, i) => {
    events.push(event('content_block_start', { index, content_block: { type: 'tool_use', id: toolId(reply, i), name: call.name, input: {} } }));
    if (index === 0) events.push(event('ping', {}));
    for (const piece of splitArguments(argumentsJson(call)))
      events.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
    events.push(event('content_block_stop', { index }));
    index++;
  });
  events.push(
    event('message_delta', {
      delta: { stop_reason: stopReason(reply), stop_sequence: null },
      ...(reply.usage === false ? {} : { usage: { output_tokens: outputTokens(reply, text) } }),
    }),
  );
  events.push(event('message_stop', {}));
  return events;
}
