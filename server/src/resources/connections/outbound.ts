import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { guardedAgents, type AddressPolicy } from '../../security/addresses.js';

/** Why a call to a provider got no usable answer: nothing in time, no connection (or a refused address), an answer over the limit. */
export class OutboundFailure extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable' | 'address' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

export type OutboundResponse = { status: number; headers: IncomingHttpHeaders; body: Buffer };

export type Outbound = (request: { method: string; url: URL; headers: Record<string, string>; body?: Buffer }) => Promise<OutboundResponse>;

/**
 * Calls to providers (token endpoints, the credential proxy): every address checked by the
 * policy when the socket connects, the whole exchange within `timeoutMs`, answers read up to
 * `maxBytes`, and redirects returned as they are (never followed: a redirect must not carry a
 * credential to another host).
 */
export function outbound(policy: AddressPolicy, timeoutMs: number, maxBytes: number): Outbound {
  const agents = guardedAgents(policy);
  return ({ method, url, headers, body }) =>
    new Promise<OutboundResponse>((resolve, reject) => {
      const protocol = url.protocol === 'https:' ? https : http;
      const request = protocol.request(url, {
        method,
        agent: agents[url.protocol as 'http:' | 'https:'],
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      });
      const timer = setTimeout(
        () => request.destroy(new OutboundFailure('timeout', `${url.host} sent no complete answer within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      const fail = (err: Error & { code?: string }) => {
        clearTimeout(timer);
        if (err instanceof OutboundFailure) reject(err);
        else if (/is not allowed/.test(err.message)) reject(new OutboundFailure('address', `the server's address policy refused ${url.host} (${err.message})`));
        else reject(new OutboundFailure('unreachable', `the connection to ${url.host} failed (${err.code ?? err.message})`));
      };
      request.on('error', fail);
      request.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) request.destroy(new OutboundFailure('too_large', `${url.host} answered with more than ${maxBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      request.end(body);
    });
}
