import { AbortError, ConnectionError, TimeoutError } from './errors.js';

export type CallOptions = {
  signal?: AbortSignal;
  /** Milliseconds for one attempt; for a stream, until its headers arrive. */
  timeout?: number;
  /** Retries after the first attempt (network errors, 408, 409 idempotency-in-flight, 429, 5xx). */
  maxRetries?: number;
};

export type TransportOptions = Required<Pick<CallOptions, 'timeout' | 'maxRetries'>> & { fetch: typeof fetch };

const MAX_BACKOFF_MS = 8_000;
/** fetch follows an abort signal weakly: each response keeps its attempt's controller reachable. */
const keptControllers = new WeakMap<Response, AbortController>();
const MAX_RETRY_AFTER_MS = 60_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new AbortError(signal.reason));
      },
      { once: true },
    );
  });

/** Synchronous for every status but 409, whose body says whether it may pass: most calls stay off the slower path. */
function retryable(response: Response): boolean | Promise<boolean> {
  if (response.status === 408 || response.status === 429 || response.status >= 500) return true;
  if (response.status !== 409) return false;
  return inFlight(response);
}

async function inFlight(response: Response): Promise<boolean> {
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

/** A fetch for one call, and `settle()` to disarm its timeout once the caller has read the body. */
export type CallFetch = typeof fetch & { settle: () => void };

/**
 * A fetch for one call: each attempt has its own timeout, the caller's signal cancels everything,
 * and failures that may pass are retried with the same request (same body, same Idempotency-Key).
 */
export function callFetch(transport: TransportOptions, call: CallOptions = {}, streaming = false): CallFetch {
  const maxRetries = call.maxRetries ?? transport.maxRetries;
  const timeout = call.timeout ?? transport.timeout;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fetcher: typeof fetch = async (input, init) => {
    if (call.signal?.aborted) throw new AbortError(call.signal.reason);
    // The generated client already hands over a Request: copying it once more would only cost time.
    const original = input instanceof Request && init === undefined ? input : new Request(input, init);
    const body = original.body ? await original.arrayBuffer() : undefined;
    for (let attempt = 0; ; attempt++) {
      const controller = new AbortController();
      // A call's timeout also covers reading its body (the timer stays armed until settle(), and never
      // keeps a process alive); a stream's covers waiting for its headers only.
      timer = setTimeout(() => controller.abort(new TimeoutError(0, undefined, new Headers(), `No response within ${timeout} ms.`)), timeout);
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
      // Without this, a garbage collection could silently disarm the timeout and the caller's abort.
      if (response) keptControllers.set(response, controller);
      if (streaming || failure) clearTimeout(timer);
      if (call.signal?.aborted) throw new AbortError(call.signal.reason);
      let again = response !== undefined && attempt < maxRetries && retryable(response);
      if (again instanceof Promise) again = await again;
      if (response && !again) return response;
      clearTimeout(timer);
      if (!response && attempt >= maxRetries) {
        if (controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
        throw new ConnectionError(0, undefined, new Headers(), `The request failed: ${(failure as Error | null | undefined)?.message ?? String(failure)}`, {
          cause: failure,
        });
      }
      await response?.body?.cancel().catch(() => {});
      await sleep(delayMs(response, attempt), call.signal);
    }
  };
  return Object.assign(fetcher, { settle: () => clearTimeout(timer) });
}
