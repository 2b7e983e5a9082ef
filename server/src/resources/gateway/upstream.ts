import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { guardedAgents } from '../../security/addresses.js';

export type Agents = ReturnType<typeof guardedAgents>;

/**
 * Why a call to a provider ended without a complete answer: `timeout` (nothing for the provider's
 * timeout), `unreachable` (the connection failed, was refused or was cut), `address` (the address
 * policy refused it), `malformed` (an answer the protocol cannot read), `client` (the caller went
 * away, and the call was abandoned for it).
 */
export type FailureKind = 'timeout' | 'unreachable' | 'address' | 'malformed' | 'client';

export class UpstreamFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

export type UpstreamRequest = { url: URL; headers: Record<string, string>; body: Buffer; idleTimeoutMs: number; agents: Agents };

/**
 * One call to a provider. The idle timer bounds the wait for the first byte and then between two
 * bytes; it stops while the caller is not reading (backpressure is the caller's delay, not the
 * provider's) and once the answer is all read. `fail` abandons the call: the provider sees its
 * connection close.
 */
export type Exchange = {
  /** Resolves with the response as soon as its headers arrive; rejects with an UpstreamFailure. */
  response: Promise<IncomingMessage>;
  /** Why the exchange was abandoned, once it was. */
  failure(): UpstreamFailure | undefined;
  fail(failure: UpstreamFailure): void;
  /** The provider's answer moved on: the idle timer starts over. */
  alive(): void;
  /** Stops the idle timer: the caller is not reading, or the answer is complete. */
  pause(): void;
  /** Restarts the idle timer after a pause. */
  resume(): void;
};

const describe = (err: Error & { code?: string }) => {
  if (/is not allowed/.test(err.message)) return new UpstreamFailure('address', `the address policy refused the provider's address (${err.message})`);
  if (err.code === 'ECONNREFUSED') return new UpstreamFailure('unreachable', 'the provider refused the connection');
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new UpstreamFailure('unreachable', "the provider's host name does not resolve");
  return new UpstreamFailure('unreachable', `the connection to the provider failed (${err.code ?? err.message})`);
};

/** A kept-alive connection the provider closed just as it was reused: the request never reached it, and is sent again once on a new one. */
const staleConnection = (request: ClientRequest, err: Error & { code?: string }) => request.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');

export function openExchange({ url, headers, body, idleTimeoutMs, agents }: UpstreamRequest): Exchange {
  let failure: UpstreamFailure | undefined;
  let request: ClientRequest;
  let paused = false;
  const expire = () => exchange.fail(new UpstreamFailure('timeout', `the provider sent nothing for ${idleTimeoutMs / 1000} s`));
  let timer: NodeJS.Timeout | undefined = setTimeout(expire, idleTimeoutMs);
  const stopTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const protocol = url.protocol === 'https:' ? https : http;

  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const send = (retried: boolean) => {
      request = protocol.request(url, {
        method: 'POST',
        agent: agents[url.protocol as 'http:' | 'https:'],
        headers: { ...headers, 'content-length': String(body.length) },
      });
      request.on('response', (res) => {
        // The response's own failures are seen through 'close' (see readAll and the relay).
        res.on('error', () => undefined);
        exchange.alive();
        resolve(res);
      });
      request.on('error', (err: Error & { code?: string }) => {
        if (failure) return reject(failure);
        if (!retried && staleConnection(request, err)) return send(true);
        failure = describe(err);
        stopTimer();
        reject(failure);
      });
      request.end(body);
    };
    send(false);
  });
  // Settled by whoever awaits it; an exchange abandoned before anyone does must not be an unhandled rejection.
  response.catch(() => undefined);

  const exchange: Exchange = {
    response,
    failure: () => failure,
    fail(reason) {
      if (failure) return;
      failure = reason;
      stopTimer();
      request.destroy(reason);
    },
    alive() {
      if (paused || failure) return;
      if (timer) timer.refresh();
      else timer = setTimeout(expire, idleTimeoutMs);
    },
    pause() {
      paused = true;
      stopTimer();
    },
    resume() {
      paused = false;
      exchange.alive();
    },
  };
  return exchange;
}

/** Reads a whole answer (the idle timer restarting on each chunk), at most `limit` bytes; rejects with the exchange's failure. */
export function readAll(exchange: Exchange, res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      exchange.alive();
      size += chunk.length;
      if (size > limit) exchange.fail(new UpstreamFailure('malformed', `the provider's answer is larger than ${limit} bytes`));
      else chunks.push(chunk);
    });
    res.on('end', () => {
      exchange.pause();
      resolve(Buffer.concat(chunks));
    });
    res.on('close', () => {
      if (!res.complete) reject(exchange.failure() ?? new UpstreamFailure('unreachable', 'the provider closed the connection in the middle of its answer'));
    });
  });
}
