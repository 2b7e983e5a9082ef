import { randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { guardedAgents } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { openCredential } from '../model-providers/store.js';
import { retryOf, type ResolvedModel } from '../models/store.js';

/**
 * OpenAI's `POST {baseUrl}/audio/transcriptions`, the one upstream call of transcription: the jobs'
 * worker and the gateway's passthrough both send their form through `transcribeUpstream`, which
 * retries and falls back as the alias says.
 */

export type Agents = ReturnType<typeof guardedAgents>;

/** The form sent upstream: its text fields in order (a repeated one, like `timestamp_granularities[]`, once per value) and the audio. */
export type UpstreamForm = {
  fields: [name: string, value: string][];
  audio: { filename: string; contentType: string; data: Buffer };
};

export type UpstreamAnswer = { status: number; headers: IncomingHttpHeaders; body: Buffer };

/** Why an attempt, or the whole call, failed; `answer` is the provider's own error response when there was one. */
export type UpstreamError = {
  code: 'provider_unreachable' | 'provider_timeout' | 'provider_error' | 'provider_rejected' | 'provider_malformed_response';
  message: string;
  status: number | null;
  answer?: UpstreamAnswer;
};

export type UpstreamOutcome = {
  /** The target that answered last (or failed last). */
  target: ResolvedModel;
  attempts: number;
  fallbacksUsed: number;
  latencyMs: number;
} & ({ ok: true; answer: UpstreamAnswer } | { ok: false; error: UpstreamError });

/** Thrown when the call's signal aborts it: how far it had gone, for the usage record. */
export class UpstreamAborted extends Error {
  constructor(readonly progress: Omit<UpstreamOutcome, 'ok' | 'answer' | 'error'>) {
    super('The call to the provider was aborted.');
  }
}

/** Statuses that say the request itself is wrong: no other attempt or provider would take it. */
const REQUEST_FAULTS = new Set([400, 413, 415, 422]);
/** A transcription with every word of hours of audio stays far below this; beyond it the answer is not one. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** A provider's Retry-After is honoured up to this long; a longer one waits the policy's backoff instead. */
const MAX_RETRY_AFTER_MS = 30_000;
const MAX_MESSAGE_CHARS = 500;

class AttemptFailure extends Error {
  constructor(
    readonly code: 'provider_unreachable' | 'provider_timeout' | 'provider_malformed_response',
    message: string,
    /** The address guard refused it: another attempt would be refused too. */
    readonly final = false,
  ) {
    super(message);
  }
}

// eslint-disable-next-line no-control-regex -- the class names the control characters a message may not hold
const printable = (text: string) => text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '\ufffd');

/** The message in the provider's error body (OpenAI's envelope or anything with a message), else the start of the body. */
function providerMessage(answer: UpstreamAnswer): string {
  const text = answer.body.toString('utf8');
  let message = text;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const candidate = typeof parsed.error === 'object' ? parsed.error.message : (parsed.error ?? parsed.message);
    if (typeof candidate === 'string') message = candidate;
  } catch {
    // Not JSON: the text itself says what went wrong.
  }
  return printable(message.trim()).slice(0, MAX_MESSAGE_CHARS) || `status ${answer.status}`;
}

const quote = (value: string) => value.replace(/["\\\r\n]/g, (c) => (c === '"' ? '%22' : c === '\\' ? '\\\\' : ' '));

/** The multipart body in three pieces, the audio in the middle, so that the audio is never copied. */
function multipart(form: UpstreamForm): { boundary: string; pieces: Buffer[]; length: number } {
  const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
  const head = form.fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`).join('');
  const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(form.audio.filename)}"\r\nContent-Type: ${form.audio.contentType}\r\n\r\n`;
  const pieces = [Buffer.from(head + fileHead), form.audio.data, Buffer.from(`\r\n--${boundary}--\r\n`)];
  return { boundary, pieces, length: pieces.reduce((n, p) => n + p.length, 0) };
}

function explain(err: Error & { code?: string }): AttemptFailure {
  if (/is not allowed/.test(err.message)) return new AttemptFailure('provider_unreachable', `address not allowed: ${err.message}`, true);
  if (err.code === 'ECONNREFUSED') return new AttemptFailure('provider_unreachable', 'connection refused');
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new AttemptFailure('provider_unreachable', `name not resolved: ${err.message}`);
  return new AttemptFailure('provider_unreachable', err.code ? `${err.code}: ${err.message}` : err.message);
}

/** One attempt: the form POSTed through the guarded agents, read whole unless the provider falls silent for its timeout. */
function attempt(target: ResolvedModel, credential: string | undefined, form: UpstreamForm, agents: Agents, signal: AbortSignal): Promise<UpstreamAnswer> {
  const { provider } = target;
  const url = new URL(`${provider.base_url.replace(/\/+$/, '')}/audio/transcriptions`);
  const timeoutMs = provider.timeout_seconds * 1000;
  const body = multipart(form);
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const protocol = url.protocol === 'https:' ? https : http;
    const request = protocol.request(url, {
      method: 'POST',
      agent: agents[url.protocol as 'http:' | 'https:'],
      headers: {
        ...fromJsonColumn<Record<string, string>>(provider.headers, {}),
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        'content-type': `multipart/form-data; boundary=${body.boundary}`,
        'content-length': String(body.length),
        accept: 'application/json, text/plain',
        'user-agent': 'Switchboard-Gateway/1',
      },
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', abort);
      reject(err);
    };
    const abort = () => request.destroy(signal.reason as Error);
    // The provider's timeout bounds the wait for the answer to begin, then each silence within it.
    const timer = setTimeout(
      () => request.destroy(new AttemptFailure('provider_timeout', `no answer within the provider's timeout of ${provider.timeout_seconds} s`)),
      timeoutMs,
    );
    signal.addEventListener('abort', abort, { once: true });
    request.on('error', (err: Error & { code?: string }) => fail(err instanceof AttemptFailure || signal.aborted ? err : explain(err)));
    request.on('response', (response) => {
      timer.refresh();
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        timer.refresh();
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) request.destroy(new AttemptFailure('provider_malformed_response', `the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      });
      response.on('error', (err) =>
        fail(err instanceof AttemptFailure ? err : new AttemptFailure('provider_unreachable', `the answer was cut: ${err.message}`)),
      );
    });
    for (const piece of body.pieces) request.write(piece);
    request.end();
  });
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      resolve();
    };
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', stop, { once: true });
  });

function retryAfterMs(answer: UpstreamAnswer | undefined): number | undefined {
  const value = answer?.headers['retry-after'];
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const ms = Number(value.trim()) * 1000;
  return ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/**
 * Sends the form to each target in turn (the alias, then its fallbacks), `model` set to the
 * target's upstream model: each target is retried per its alias's policy (timeouts and failed
 * connections always, the policy's statuses, with doubling backoff or the provider's shorter
 * Retry-After), and a target that still fails hands over to the next one. A provider that says
 * the request itself is wrong (400, 413, 415, 422) ends the call at once; an abort of `signal`
 * ends it with `UpstreamAborted`.
 */
export async function transcribeUpstream(
  chain: ResolvedModel[],
  sealer: Sealer,
  agents: Agents,
  form: UpstreamForm,
  signal: AbortSignal,
): Promise<UpstreamOutcome> {
  const started = performance.now();
  let attempts = 0;
  let error: UpstreamError | undefined;
  let target = chain[0]!;
  for (const [index, candidate] of chain.entries()) {
    target = candidate;
    const retry = retryOf(candidate.model);
    const credential = openCredential(sealer, candidate.provider);
    const targetForm: UpstreamForm = { ...form, fields: [['model', candidate.model.upstream_model], ...form.fields.filter(([name]) => name !== 'model')] };
    const progress = () => ({ target: candidate, attempts, fallbacksUsed: index, latencyMs: Math.round(performance.now() - started) });
    for (let tries = 0; tries <= retry.attempts; tries++) {
      if (tries > 0)
        await sleep(retryAfterMs(error?.answer) ?? retry.backoffMs * 2 ** (tries - 1), signal).catch(() => Promise.reject(new UpstreamAborted(progress())));
      attempts++;
      const done = (outcome: { ok: true; answer: UpstreamAnswer } | { ok: false; error: UpstreamError }): UpstreamOutcome => ({ ...outcome, ...progress() });
      let answer: UpstreamAnswer;
      try {
        answer = await attempt(candidate, credential, targetForm, agents, signal);
      } catch (err) {
        if (signal.aborted) throw new UpstreamAborted(progress());
        const failure = err instanceof AttemptFailure ? err : new AttemptFailure('provider_unreachable', (err as Error).message);
        error = { code: failure.code, message: `${candidate.provider.base_url}: ${failure.message}`, status: null };
        if (failure.final) break;
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) return done({ ok: true, answer });
      error = {
        code: REQUEST_FAULTS.has(answer.status) ? 'provider_rejected' : 'provider_error',
        message: `The provider answered ${answer.status}: ${providerMessage(answer)}`,
        status: answer.status,
        answer,
      };
      if (REQUEST_FAULTS.has(answer.status)) return done({ ok: false, error });
      if (!retry.onStatus.includes(answer.status)) break;
    }
  }
  return {
    ok: false,
    error: error ?? { code: 'provider_unreachable', message: 'No provider was tried.', status: null },
    target,
    attempts,
    fallbacksUsed: chain.length - 1,
    latencyMs: Math.round(performance.now() - started),
  };
}
