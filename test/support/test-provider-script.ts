import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/** A tool call the scripted model makes; `arguments` as a JSON string (kept verbatim, even when malformed) or an object. */
export type ScriptedToolCall = { id?: string; name: string; arguments?: string | Record<string, unknown> };

/**
 * What the test provider answers to one request. Every field is optional: an empty reply is a
 * short text answer. The same reply serves both protocols (chat completions, messages) and the
 * transcription and embedding endpoints, each taking the fields that apply to it.
 */
export type Reply = {
  /** The assistant's text, streamed word by word (one chunk per word, leading spaces kept). */
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /**
   * Token counts the provider reports; `false` reports none (a provider that never sends usage).
   * Default: estimated from the text. `input` counts every prompt token; `cachedInput` of them were
   * read from the prompt cache (OpenAI's `cached_tokens`, Anthropic's `cache_read_input_tokens`)
   * and `cacheWrite` written to it (Anthropic's `cache_creation_input_tokens`); Anthropic's own
   * `input_tokens` leaves both out, as Anthropic does.
   */
  usage?: { input: number; output: number; cachedInput?: number; cacheWrite?: number } | false;
  /** The model named in the response; default: the request's `model`. */
  model?: string;
  /**
   * The finish reason; `stop`, `length` and `tool_calls` are mapped to Anthropic's `end_turn`,
   * `max_tokens` and `tool_use`, anything else is sent as given. Default: from the tool calls.
   */
  finishReason?: string;
  /** An error status: the body is the provider's own error envelope, with `error`'s fields. */
  status?: number;
  error?: { message?: string; type?: string; code?: string | null };
  /** Extra response headers (e.g. `retry-after` with a 429). */
  headers?: Record<string, string>;
  /** Wait this long before sending the response headers. */
  delayMs?: number;
  /** Wait this long between two stream events. */
  chunkDelayMs?: number;
  /** Never answer: the request stays open until the client goes away. */
  hang?: boolean;
  /** Stream this many events, then stall until the client goes away. */
  hangAfterChunks?: number;
  /** Stream this many events, then destroy the socket (no `[DONE]`, no `message_stop`); for a non-streamed reply, half the body. */
  cutAfterChunks?: number;
  /** After this many events, send one event whose data is not JSON, then go on; for a non-streamed reply, a body that is not JSON. */
  malformedAfterChunks?: number;
  /** Transcription only: language, duration (default: the WAV's own) and segments (default: the text's sentences spread over the duration). */
  transcript?: { language?: string; duration?: number; segments?: { start: number; end: number; text: string }[] };
};

export type Outcome = 'pending' | 'completed' | 'aborted' | 'cut';

/** A request as the provider received it. */
export type RecordedRequest = {
  method: string;
  /** The path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or for multipart the fields (repeated ones as arrays) with `file` as `{ filename, mimeType, data }`. */
  body: Record<string, unknown> | undefined;
  /** `completed` when the whole response was sent, `aborted` when the client went away first, `cut` when the provider cut it. */
  outcome: Outcome;
  /** Resolves with the outcome once the exchange is over. */
  settled: Promise<Outcome>;
};

export type ReplyScript = Reply | ((request: RecordedRequest) => Reply | Promise<Reply>);

/** One server-sent event: Anthropic names its events, OpenAI does not. */
export type SseEvent = { event?: string; data: string };

export const randomId = (prefix: string, length = 24) =>
  prefix +
  randomBytes(length)
    .toString('base64')
    .replace(/[^a-zA-Z0-9]/g, '')
    .padEnd(length, 'x')
    .slice(0, length);

/** The text split the way a model streams it: one piece per word, each with the whitespace before it. */
export const tokenise = (text: string): string[] => text.match(/\s*\S+|\s+$/g) ?? [];

/** A JSON string in up to three pieces, as tool-call arguments arrive in several deltas. */
export function splitArguments(json: string): string[] {
  if (json.length < 3) return [json];
  const size = Math.ceil(json.length / 3);
  return [json.slice(0, size), json.slice(size, 2 * size), json.slice(2 * size)].filter((piece) => piece.length > 0);
}

export const argumentsJson = (call: ScriptedToolCall) => (typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}));

/** Rough token count (four characters a token): deterministic, good enough when a test does not script usage. */
export const estimateTokens = (value: unknown) => Math.max(1, Math.ceil((typeof value === 'string' ? value : JSON.stringify(value ?? '')).length / 4));

export function outputTokens(reply: Reply, text: string): number {
  if (reply.usage) return reply.usage.output;
  return tokenise(text).length + (reply.toolCalls ?? []).reduce((n, call) => n + estimateTokens(argumentsJson(call)), 0);
}

/** Waits `ms`, or less if the response closes meanwhile. */
export function pause(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0 || res.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

/** Resolves when the client goes away (the faults that hang use it). */
export const untilClosed = (res: ServerResponse) => new Promise<void>((resolve) => (res.closed ? resolve() : res.once('close', () => resolve())));

/** Closes the connection once what was written has gone out, without ending the response (no last chunk). */
function cut(res: ServerResponse, markCut: () => void) {
  markCut();
  const socket = res.socket;
  socket?.end(() => socket.destroy());
}

/**
 * Sends the events as a text/event-stream with the reply's faults: a pause between events, a
 * stall, a cut (the socket destroyed), one malformed event.
 */
export async function playStream(res: ServerResponse, reply: Reply, events: SseEvent[], markCut: () => void): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', ...reply.headers });
  res.flushHeaders();
  for (let sent = 0; sent <= events.length; sent++) {
    if (sent > 0 && reply.chunkDelayMs) await pause(reply.chunkDelayMs, res);
    if (res.closed) return;
    if (reply.cutAfterChunks === sent) {
      cut(res, markCut);
      return;
    }
    if (reply.hangAfterChunks === sent) return untilClosed(res);
    const event = events[sent];
    if (reply.malformedAfterChunks === sent) res.write(`${event?.event ? `event: ${event.event}\n` : ''}data: {"broken": \n\n`);
    if (!event) break;
    res.write(`${event.event ? `event: ${event.event}\n` : ''}data: ${event.data}\n\n`);
  }
  res.end();
}

/** Sends a JSON body with the reply's faults (a cut sends half of it, a malformed reply breaks it). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  reply: Reply,
  markCut: () => void,
  extraHeaders: Record<string, string> = {},
): void {
  const json = JSON.stringify(body);
  const bytes = Buffer.from(reply.malformedAfterChunks !== undefined && status < 400 ? json.slice(0, -1) + ',' : json);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length, ...extraHeaders, ...reply.headers });
  if (reply.cutAfterChunks !== undefined && status < 400) {
    res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => cut(res, markCut));
    return;
  }
  res.end(bytes);
}
