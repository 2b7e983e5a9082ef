import type { EnvelopeFormat, ErrorFields } from '../../problems/provider-envelopes.js';
import type { SseEvent } from './sse.js';

/** What a call consumed, normalised across providers: `inputTokens` includes the cached ones (read from, or written to, the prompt cache). */
export type Usage = { inputTokens: number; outputTokens: number; cachedInputTokens: number };

/** The provider sent an event the protocol cannot read: the stream cannot be trusted further. */
export class MalformedStream extends Error {}

/** Reads a provider's stream as it passes through: what it reports, and what of it the caller is sent. */
export type StreamReader = {
  /** The text to send the caller for this event: the event as received, changed, or null to drop it. Throws MalformedStream. */
  pass(event: SseEvent): string | null;
  /** The usage reported so far, if any. */
  usage(): Usage | undefined;
  /** An error the provider sent inside the stream (it is passed on as it came). */
  error(): ErrorFields | undefined;
};

/** The headers of the caller's request a protocol forwards (Anthropic's version and betas). */
export type CallerHeaders = { anthropicVersion: string | undefined; anthropicBeta: string | undefined };

/** One provider wire format, as the gateway passes it through. */
export type Protocol = {
  format: EnvelopeFormat;
  /** The body sent upstream: the caller's, with the upstream model (and what the protocol needs to read the usage). */
  upstreamBody(body: Record<string, unknown>, upstreamModel: string): Record<string, unknown>;
  /** The protocol's headers for an upstream call: the provider's credential (never the caller's) and what the caller may choose. */
  headers(credential: string | undefined, caller: CallerHeaders): Record<string, string>;
  /** A reader for the stream of this request (it knows what the caller asked to receive). */
  reader(body: Record<string, unknown>): StreamReader;
  /** The usage an answer that is not streamed reports. */
  usageOf(answer: unknown): Usage | undefined;
  /** The event that ends a stream with an error, as the protocol's SDKs read it. */
  errorEvent(fields: ErrorFields): string;
  /** The error type of a provider's refusal that names none. */
  errorType(status: number): string;
};

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A count a provider reported: a non-negative integer, else nothing. */
export const count = (value: unknown): number | undefined => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined);

/** Parses an event's JSON data, which must be an object. */
export function eventJson(data: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new MalformedStream(`the provider sent an event whose data is not JSON`);
  }
  if (!isObject(parsed)) throw new MalformedStream('the provider sent an event whose data is not a JSON object');
  return parsed;
}
