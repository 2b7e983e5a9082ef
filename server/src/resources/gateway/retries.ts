import type { ModelRetry } from '../models/store.js';
import type { Broken, Refusal } from './attempt.js';

/** A provider's Retry-After is honoured up to this; asking for longer, it is not retried (its fallbacks are tried). */
const MAX_RETRY_AFTER_MS = 30_000;

/** Statuses that say the provider refuses the gateway's own account (its credential, its billing), not the request. */
const ACCOUNT_REFUSALS = [401, 402, 403, 407];

export type Failure = Refusal | Broken;

/** Worth trying the same model again: a status the alias retries, a timeout, a failed or cut connection, a malformed answer. */
export function retryable(failure: Failure, retry: ModelRetry): boolean {
  if (failure.kind === 'refusal') return retry.onStatus.includes(failure.status);
  return failure.failure.kind !== 'address' && failure.failure.kind !== 'client';
}

/**
 * Worth trying the next fallback: a failure of the provider, which another may not share (an error
 * status of 429 or 5xx, a refusal of the gateway's account, an address the policy refuses, a
 * broken exchange). A refusal of the request itself (400, 404, ...) would be the same anywhere.
 */
export function failsOver(failure: Failure, retry: ModelRetry): boolean {
  if (failure.kind === 'broken') return failure.failure.kind !== 'client';
  const { status } = failure;
  return status === 429 || status >= 500 || ACCOUNT_REFUSALS.includes(status) || retry.onStatus.includes(status);
}

/** The wait before retry number `n` (from 0): the provider's Retry-After, else the backoff doubled each time; null when the provider asks for too long. */
export function retryDelay(failure: Failure, retry: ModelRetry, n: number): number | null {
  const asked = failure.kind === 'refusal' ? failure.retryAfterMs : null;
  if (asked !== null) return asked <= MAX_RETRY_AFTER_MS ? asked : null;
  return retry.backoffMs * 2 ** n;
}

/** Waits `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
