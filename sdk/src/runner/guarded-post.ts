import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RunFailure } from './run-handler.js';

type FilteringAgent = typeof import('request-filtering-agent');
let filteringAgent: Promise<FilteringAgent> | undefined;

/**
 * request-filtering-agent is an optional peer dependency, loaded with the first outgoing call
 * (an http agent's run, an http tool's call): library users who never make one do not install it
 * (the CLI and the server do). `failure` is the code of the run's error when it is missing.
 */
async function loadFilteringAgent(failure: string): Promise<FilteringAgent> {
  try {
    return await (filteringAgent ??= import('request-filtering-agent'));
  } catch (err) {
    filteringAgent = undefined;
    throw new RunFailure(
      failure,
      `This runner cannot call http agents or tools: install request-filtering-agent next to @switchboard/sdk (${(err as Error).message}).`,
    );
  }
}

export type GuardedPostOptions = {
  /** Allow URLs that resolve to private, loopback or link-local addresses (refused by default). */
  allowPrivateAddresses?: boolean;
  timeoutMs: number;
  signal: AbortSignal;
  headers?: Record<string, string>;
  /** The run's error code when request-filtering-agent is not installed. */
  failure: string;
};

export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Why a call failed before an answer came back: the address was refused, the connection failed, no answer in time, too large. */
export class CallError extends Error {
  constructor(
    message: string,
    /** The connect-time guard refused the address: a setting to change, not a fault to retry. */
    readonly refused = false,
  ) {
    super(message);
  }
}

/** request-filtering-agent's refusal ("DNS lookup 127.0.0.1(...) is not allowed. Because, It is private IP address."). */
const isRefusal = (err: Error) => / is not allowed\. Because/.test(err.message);

/**
 * POSTs a JSON payload and reads the answer (at most 1 MiB). The address is checked when the
 * connection is made (so DNS tricks do not get around it), redirects are not followed, and the
 * call is bounded by `timeoutMs` and `signal`. Rejects with a CallError, or the signal's reason.
 */
export async function guardedPost(url: string, payload: unknown, options: GuardedPostOptions): Promise<{ status: number; body: string }> {
  const { useAgent } = await loadFilteringAgent(options.failure);
  const bytes = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: useAgent(url, { allowPrivateIPAddress: Boolean(options.allowPrivateAddresses) }),
        headers: { 'Content-Type': 'application/json', 'Content-Length': bytes.length, ...options.headers },
        timeout: options.timeoutMs,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) request.destroy(new CallError(`The response is larger than ${String(MAX_RESPONSE_BYTES)} bytes.`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new CallError(`No response within ${String(options.timeoutMs)} ms.`)));
    request.on('error', (err) => {
      if (options.signal.aborted) reject(options.signal.reason as Error);
      else reject(err instanceof CallError ? err : new CallError(err.message, isRefusal(err)));
    });
    request.end(bytes);
  });
}
