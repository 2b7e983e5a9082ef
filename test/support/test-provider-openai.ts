import { createHash } from 'node:crypto';
import { HASH_EMBED_PREFIX, hashEmbedDimensions, hashingEmbedding } from './hashing-embedder.js';
import { argumentsJson, estimateTokens, outputTokens, randomId, splitArguments, tokenise, type Reply, type SseEvent } from './test-provider-script.js';

/** OpenAI's wire formats: chat completions (whole and streamed), embeddings, models, errors. */

const ERROR_TYPES: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist or you do not have access to it.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached. Please try again later.' },
};

/** `{error: {message, type, param, code}}`, OpenAI's error body. */
export function openaiError(status: number, error: Reply['error'] = {}, param: string | null = null) {
  const known = ERROR_TYPES[status] ?? {
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
    message: 'The server had an error while processing your request.',
  };
  return {
    error: { message: error.message ?? known.message, type: error.type ?? known.type, param, code: error.code === undefined ? known.code : error.code },
  };
}

/** Why a chat request is refused before any reply is played, as OpenAI would say it; undefined when it is acceptable. */
export function checkChatRequest(body: Record<string, unknown>): { message: string; param: string } | undefined {
  if (typeof body.model !== 'string' || !body.model) return { message: 'you must provide a model parameter', param: 'model' };
  if (!Array.isArray(body.messages) || body.messages.length === 0) return { message: "Missing required parameter: 'messages'.", param: 'messages' };
  return undefined;
}

export function usageOf(reply: Reply, body: Record<string, unknown>, text: string) {
  const input = reply.usage ? reply.usage.input : estimateTokens(body.messages);
  const output = outputTokens(reply, text);
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: reply.usage ? (reply.usage.cachedInput ?? 0) : 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

const finishReason = (reply: Reply) => reply.finishReason ?? (reply.toolCalls?.length ? 'tool_calls' : 'stop');
const callId = (reply: Reply, i: number) => reply.toolCalls?.[i]?.id ?? `call_${String(i)}${randomId('', 22)}`;

export function chatCompletion(reply: Reply, body: Record<string, unknown>) {
  const text = reply.text ?? (reply.toolCalls?.length ? '' : 'Hello from the test provider.');
  const toolCalls = (reply.toolCalls ?? []).map((call, i) => ({
    id: callId(reply, i),
    type: 'function',
    function: { name: call.name, arguments: argumentsJson(call) },
  }));
  return {
    id: randomId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text || null, refusal: null, annotations: [], ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        logprobs: null,
        finish_reason: finishReason(reply),
      },
    ],
    ...(reply.usage === false ? {} : { usage: usageOf(reply, body, text) }),
    service_tier: 'default',
    system_fingerprint: 'fp_testprovider',
  };
}

/**
 * The `chat.completion.chunk` events of a streamed answer: the role, the text word by word, each
 * tool call (id and name first, then its arguments in pieces), the finish reason, then, only when
 * the request set `stream_options.include_usage`, a usage chunk with `choices: []` (every chunk
 * before it carries `usage: null`, as OpenAI does), and `[DONE]`.
 */
export function chatCompletionChunks(reply: Reply, body: Record<string, unknown>): SseEvent[] {
  const text = reply.text ?? (reply.toolCalls?.length ? '' : 'Hello from the test provider.');
  const withUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  const base = { id: randomId('chatcmpl-'), object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: reply.model ?? body.model };
  const fingerprint = { system_fingerprint: 'fp_testprovider' };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    data: JSON.stringify({
      ...base,
      service_tier: 'default',
      ...fingerprint,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(withUsage ? { usage: null } : {}),
    }),
  });
  const events: SseEvent[] = [chunk({ role: 'assistant', content: reply.toolCalls?.length && !text ? null : '', refusal: null })];
  for (const piece of tokenise(text)) events.push(chunk({ content: piece }));
  (reply.toolCalls ?? []).forEach((call, index) => {
    events.push(chunk({ tool_calls: [{ index, id: callId(reply, index), type: 'function', function: { name: call.name, arguments: '' } }] }));
    for (const piece of splitArguments(argumentsJson(call))) events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
  });
  events.push(chunk({}, finishReason(reply)));
  if (withUsage && reply.usage !== false) {
    events.push({ data: JSON.stringify({ ...base, service_tier: 'default', ...fingerprint, choices: [], usage: usageOf(reply, body, text) }) });
  }
  events.push({ data: '[DONE]' });
  return events;
}

/** A deterministic unit vector for a text (a hash stretched over `dimensions`), so equal inputs embed equally. */
function vector(text: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    for (const byte of createHash('sha256')
      .update(`${String(block)}:${text}`)
      .digest())
      values.push(byte / 127.5 - 1);
  }
  const kept = values.slice(0, dimensions);
  const norm = Math.hypot(...kept) || 1;
  return kept.map((v) => v / norm);
}

/** The embeddings response; `encoding_format: base64` (what the official SDK asks for) sends little-endian float32 in base64. */
export function embeddings(reply: Reply, body: Record<string, unknown>) {
  const inputs = (Array.isArray(body.input) ? body.input : [body.input]).map((input) => (typeof input === 'string' ? input : JSON.stringify(input)));
  // `hash-embed*` models embed by shared words, for tests that rank by similarity; others by a hash of the whole text.
  const model = typeof body.model === 'string' ? body.model : '';
  const byFeatures = model.startsWith(HASH_EMBED_PREFIX);
  const dimensions = byFeatures ? hashEmbedDimensions(model, body.dimensions) : typeof body.dimensions === 'number' ? body.dimensions : 8;
  const tokens = reply.usage ? reply.usage.input : inputs.reduce((n, input) => n + estimateTokens(input), 0);
  return {
    object: 'list',
    data: inputs.map((input, index) => {
      const values = byFeatures ? hashingEmbedding(input, dimensions) : vector(input, dimensions);
      const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values;
      return { object: 'embedding', index, embedding };
    }),
    model: reply.model ?? body.model,
    ...(reply.usage === false ? {} : { usage: { prompt_tokens: tokens, total_tokens: tokens } }),
  };
}

export const modelList = (ids: readonly string[]) => ({
  object: 'list',
  data: ids.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'test-provider' })),
});
