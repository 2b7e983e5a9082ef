// A small JSON client over node:http with keep-alive, for the bench's own set-up and for the
// sequential measurements (dispatch, fan-out producer): less client overhead than fetch.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

/** Keep-alive agent; each logical client (the API caller, a runner's long poll) gets its own. */
export const newAgent = () => new http.Agent({ keepAlive: true, maxSockets: 64 });

const defaultAgent = newAgent();

/**
 * One request. Resolves with { status, headers, text, json, at } once the body is complete; `at`
 * is the wall-clock time (ms, sub-ms resolution) at which the last byte arrived.
 */
export function request(url, { method = 'GET', headers = {}, body, agent = defaultAgent, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h = { Accept: 'application/json', ...headers };
    if (payload !== undefined) {
      h['Content-Type'] ??= 'application/json';
      h['Content-Length'] = Buffer.byteLength(payload);
    }
    const req = http.request(url, { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const at = now();
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          text,
          at,
          json: () => JSON.parse(text),
        });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Wall-clock milliseconds with sub-millisecond resolution; comparable across processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();

/** A client of one Switchboard server with one credential. */
export function apiClient(baseUrl, key, agent = newAgent()) {
  const call = async (method, path, body, extraHeaders = {}, expected = [200, 201, 204]) => {
    const res = await request(`${baseUrl}${path}`, {
      method,
      agent,
      body,
      headers: { Authorization: `Bearer ${key}`, ...extraHeaders },
    });
    if (!expected.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${res.text.slice(0, 500)}`);
    return res;
  };
  return {
    call,
    get: async (path) => (await call('GET', path)).json(),
    /** A creating POST, with a fresh Idempotency-Key as a careful client sends it. */
    create: async (path, body) => (await call('POST', path, body, { 'Idempotency-Key': randomUUID() })).json(),
    post: async (path, body) => {
      const res = await call('POST', path, body);
      return res.status === 204 ? undefined : res.json();
    },
  };
}
