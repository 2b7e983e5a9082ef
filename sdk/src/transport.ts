import { ConnectionError, TimeoutError } from './errors.js';

export type CallOptions = {
  signal?: AbortSignal;
  /** Milliseconds for one attempt; for a stream, until its headers arrive. */
  timeout?: number;
  /** Retries after the first attempt (network errors, 408, 409 idempotency-in-flight, 429, 5xx). */
  maxRetries?: number;
};

export type TransportOptions = Required<Pick<CallOptions, 'timeout' | 'maxRetries'>> & { fetch: typeof fetch };

const MAX_BACKOFF_MS = 8_000;
const KEEP_SIGNAL = Symbol('signal');
const MAX_RETRY_AFTER_MS = 60_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

async function retryable(response: Response): Promise<boolean> {
  if (response.status === 408 || response.status === 429 || response.status >= 500) return true;
  if (response.status !== 409) return false;
  const problem = (await response
    .clone()
    .json()
    .catch(() => undefined)) as { code?: string } | undefined;
  return problem?.code === 'idempotency-in-flight';
}

/** Retry-After when the server sent one; otherwise exponential backoff with full jitter. */
function delayMs(response: Response | undefined, attempt: number): number {
  const retryAfter = Number(response?.headers.get('retry-after'));
  if (response?.headers.has('retry-after') && Number.isFinite(retryAfter) && retryAfter >= 0) return Math.min(retryAfter * 1000, MAX_RETRY_AFTER_MS);
  const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * A fetch for one call: each attempt has its own timeout, the caller's signal cancels everything,
 * and failures that may pass are retried with the same request (same body, same Idempotency-Key).
 */
export function callFetch(transport: TransportOptions, call: CallOptions = {}, streaming = false): typeof fetch {
  const maxRetries = call.maxRetries ?? transport.maxRetries;
  const timeout = call.timeout ?? transport.timeout;
  return async (input, init) => {
    if (call.signal?.aborted) throw call.signal.reason;
    // The generated client already hands over a Request: copying it once more would only cost time.
    const original = input instanceof Request && init === undefined ? input : new Request(input, init);
    const body = original.body ? await original.arrayBuffer() : undefined;
    for (let attempt = 0; ; attempt++) {
      const controller = new AbortController();
      // A call's timeout also covers reading its body (the timer stays armed, and never keeps a
      // process alive); a stream's covers waiting for its headers only.
      const timer = setTimeout(() => controller.abort(new TimeoutError(0, undefined, new Headers(), `No response within ${timeout} ms.`)), timeout);
      (timer as { unref?: () => void }).unref?.();
      call.signal?.addEventListener('abort', () => controller.abort(call.signal?.reason), { once: true });
      let response: Response | undefined;
      let failure: unknown;
      // A URL and an init, not a copy of the Request: fetch builds one Request either way, and a copy costs more than the call's own work.
      const init: RequestInit = { method: original.method, headers: original.headers, body, signal: controller.signal, redirect: original.redirect };
      try {
        response = await transport.fetch(original.url, init);
      } catch (err) {
        failure = err;
      }
      // fetch follows the abort signal weakly: keep the signal's controller reachable as long as the
      // response, or a garbage collection would silently disarm the timeout and the caller's abort.
      if (response) Object.defineProperty(response, KEEP_SIGNAL, { value: controller });
      if (streaming || failure) clearTimeout(timer);
      if (call.signal?.aborted) throw call.signal.reason;
      if (response && (attempt >= maxRetries || !(await retryable(response)))) return response;
      if (!response && attempt >= maxRetries) {
        if (controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
        throw new ConnectionError(0, undefined, new Headers(), `The request failed: ${(failure as Error)?.message ?? String(failure)}`, { cause: failure });
      }
      await response?.body?.cancel().catch(() => {});
      await sleep(delayMs(response, attempt), call.signal);
    }
  };
}
