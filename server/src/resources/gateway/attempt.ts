import type { IncomingMessage } from 'node:http';
import { providerErrorFields, type ErrorFields } from '../../problems/provider-envelopes.js';
import type { Sealer } from '../../security/sealer.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { parseRetryAfter } from '../../util/retry-after.js';
import { nowMs } from '../../util/time.js';
import { openCredential } from '../model-providers/store.js';
import type { ResolvedModel } from '../models/store.js';
import type { CallerHeaders, Protocol, Usage } from './protocol.js';
import { relay, type StreamEnd } from './relay.js';
import { openExchange, readAll, UpstreamFailure, type Agents, type Exchange } from './upstream.js';

/** A provider's whole answer may be this large (embeddings of many inputs are big); a larger one is refused as malformed. */
const MAX_ANSWER_BYTES = 128 * 1024 * 1024;
/** Of an error answer only this much is read: its message is all the gateway passes on. */
const MAX_ERROR_BYTES = 64 * 1024;

/** The provider answered: a JSON body (with the usage it reports), or a stream that has begun. */
export type Answer =
  { kind: 'answer'; status: number; json: Buffer; usage: Usage | undefined; model: string | undefined } | { kind: 'stream'; out: NodeJS.ReadableStream };
/** The provider refused or failed with an error status. */
export type Refusal = { kind: 'refusal'; status: number; fields: ErrorFields; retryAfterMs: number | null };
/** No usable answer came: a timeout, a failed or cut connection, a malformed answer, or the caller went away. */
export type Broken = { kind: 'broken'; failure: UpstreamFailure };
export type Outcome = Answer | Refusal | Broken;

/** What an attempt sends: the caller's body and headers, for the route's protocol and path. */
export type AttemptRequest = { body: Record<string, unknown>; caller: CallerHeaders; protocol: Protocol; path: string; streamed: boolean };
export type AttemptDeps = { sealer: Sealer; agents: Agents };

/** The credential never appears in what is passed on from a provider (some echo part of it in their errors). */
const redact = (text: string, credential: string | undefined) => (credential ? text.split(credential).join('[redacted]') : text);

async function refusalOf(exchange: Exchange, res: IncomingMessage, protocol: Protocol, credential: string | undefined): Promise<Refusal> {
  const status = res.statusCode ?? 502;
  const text = (await readAll(exchange, res, MAX_ERROR_BYTES).catch(() => Buffer.alloc(0))).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fields = providerErrorFields(body, status, protocol.errorType(status));
  const retryAfter = res.headers['retry-after'];
  return { kind: 'refusal', status, fields: { ...fields, message: redact(fields.message, credential) }, retryAfterMs: parseRetryAfter(retryAfter, nowMs()) };
}

/**
 * One call to one model's provider: the caller's body with the upstream model, the provider's
 * credential and headers. It ends with an answer (a JSON body read whole, or a stream whose first
 * event went through), a refusal, or a failure; `gone` abandons it when the caller leaves. A
 * stream that has begun reports its end to `onStreamEnd`.
 */
export async function attempt(
  target: ResolvedModel,
  request: AttemptRequest,
  deps: AttemptDeps,
  gone: AbortSignal,
  onStreamEnd: (end: StreamEnd & { upstreamStatus: number }) => Promise<void>,
): Promise<Outcome> {
  const { model, provider } = target;
  const { protocol } = request;
  const credential = openCredential(deps.sealer, provider);
  const headers = {
    'content-type': 'application/json',
    accept: request.streamed ? 'text/event-stream' : 'application/json',
    'user-agent': 'Switchboard-Gateway',
    ...fromJsonColumn<Record<string, string>>(provider.headers, {}),
    ...protocol.headers(credential, request.caller),
  };
  const exchange = openExchange({
    url: new URL(provider.base_url.replace(/\/+$/, '') + request.path),
    headers,
    body: Buffer.from(JSON.stringify(protocol.upstreamBody(request.body, model.upstream_model))),
    idleTimeoutMs: provider.timeout_seconds * 1000,
    agents: deps.agents,
  });
  const leave = () => exchange.fail(new UpstreamFailure('client', 'the caller closed the connection'));
  gone.addEventListener('abort', leave, { once: true });
  let streaming = false;
  try {
    if (gone.aborted) leave();
    const res = await exchange.response;
    const status = res.statusCode ?? 502;
    if (status < 200 || status >= 300) return await refusalOf(exchange, res, protocol, credential);
    if (request.streamed) {
      if (!/^text\/event-stream/i.test(res.headers['content-type'] ?? '')) {
        exchange.fail(new UpstreamFailure('malformed', `the provider answered a streamed request with ${res.headers['content-type'] ?? 'no content type'}`));
        return { kind: 'broken', failure: exchange.failure()! };
      }
      const relayed = relay(exchange, res, protocol.reader(request.body), protocol, async (end) => {
        gone.removeEventListener('abort', leave);
        await onStreamEnd({ ...end, upstreamStatus: status });
      });
      await relayed.started;
      streaming = true;
      return { kind: 'stream', out: relayed.out };
    }
    const json = await readAll(exchange, res, MAX_ANSWER_BYTES);
    let answer: unknown;
    try {
      answer = JSON.parse(json.toString('utf8'));
    } catch {
      return { kind: 'broken', failure: new UpstreamFailure('malformed', 'the provider answered with a body that is not JSON') };
    }
    const model = (answer as { model?: unknown } | null)?.model;
    return { kind: 'answer', status, json, usage: protocol.usageOf(answer), model: typeof model === 'string' ? model : undefined };
  } catch (err) {
    if (err instanceof UpstreamFailure) return { kind: 'broken', failure: err };
    throw err;
  } finally {
    // A stream listens until it ends (the relay stops listening then); anything else is over.
    if (!streaming) gone.removeEventListener('abort', leave);
  }
}
