import { expect, inject } from 'vitest';
import createClient from 'openapi-fetch';
import type { components, paths } from '../../server/src/generated/openapi.js';

/** A problem body (RFC 9457) as the spec defines it. */
export type Problem = components['schemas']['Problem'];

export type ApiClient = ReturnType<typeof createClient<paths>>;

type Violation = { location: string[]; severity: string; message: string };

/** Fails the request when Prism saw the server's response break the spec (request violations are the test's own doing). */
export const contractCheckedFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const header = res.headers.get('sl-violations');
  const broken = header ? (JSON.parse(header) as Violation[]).filter((v) => v.location[0] === 'response') : [];
  if (broken.length) {
    const method = input instanceof Request ? input.method : (init?.method ?? 'GET');
    const url = input instanceof Request ? input.url : String(input);
    throw new Error(`Response to ${method} ${url} breaks the contract: ${broken.map((v) => `${v.location.join('.')}: ${v.message}`).join('; ')}`);
  }
  return res;
};

/**
 * The typed raw client: tests see statuses and headers the SDK would hide. By default it goes
 * through a Prism proxy that checks every response against the spec.
 */
export function rawClient(options: { baseUrl?: string; key?: string | null; headers?: Record<string, string> } = {}): ApiClient {
  const key = options.key === undefined ? inject('adminKey') : options.key;
  return createClient<paths>({
    baseUrl: options.baseUrl ?? inject('auditUrl'),
    fetch: contractCheckedFetch,
    headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...options.headers },
  });
}

/**
 * A plain fetch straight to the shared server, for requests the typed client will not send (malformed
 * JSON, which Prism would answer itself). The server's own strict response validation still applies.
 */
export function send(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const key = init.key === undefined ? inject('adminKey') : init.key;
  const headers = new Headers(init.headers);
  if (key && !headers.has('authorization')) headers.set('Authorization', `Bearer ${key}`);
  return fetch(`${inject('serverUrl')}${path}`, { ...init, headers });
}

export async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Problem;
  expect(body.status).toBe(res.status);
  expect(body.type).toBe(`/api/problems/${body.code}`);
  expect(body.requestId).toBe(res.headers.get('request-id'));
  return body;
}

let counter = 0;
export const uniqueName = (prefix: string) => `${prefix} ${process.pid}-${Date.now()}-${++counter}`;
