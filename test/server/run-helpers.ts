import { expect, inject } from 'vitest';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { components } from '../../server/src/generated/openapi.js';
import { contractCheckedFetch, uniqueName, type Problem } from '../support/client.js';
import { createApplication, createKey, freshAdmin, token } from './helpers.js';

export type Run = components['schemas']['Run'];
/** A run event whose `data` the tests read loosely, whatever its type (a thread message has no `status`). */
export type RunEvent = components['schemas']['RunEvent'] & { data: Record<string, unknown> };
export type Claim = components['schemas']['Claim'];
export type Lease = components['schemas']['Lease'];
export type Runner = components['schemas']['Runner'];
export type RunnerWithToken = components['schemas']['RunnerWithToken'];
export type Agent = components['schemas']['Agent'];
export type { Problem };

export const RUN_ID = /^run_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const EVT_ID = /^evt_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const LEASE_ID = /^lease_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const RUNNER_ID = /^runner_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const EU_ID = /^eu_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const RUNNER_TOKEN = /^sbr_[A-Za-z0-9_-]{43,200}$/;
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A well-formed TypeID that names nothing. */
export const absent = (prefix: 'run' | 'lease' | 'runner' | 'agent') => `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1ab`;

/** Where requests go and with which credential (an application key or a runner token). */
export type Conn = { baseUrl: string; key: string; headers?: Record<string, string> };

export type Reply<T = any> = { status: number; headers: Headers; body: T; res: Response };

/**
 * One JSON request. Through the shared server's Prism audit proxy when `baseUrl` is the audit URL
 * (responses are then checked against the contract), straight to the server otherwise.
 */
export async function call<T = any>(conn: Conn, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const h: Record<string, string> = { Authorization: `Bearer ${conn.key}`, ...conn.headers, ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const doFetch = conn.baseUrl === inject('auditUrl') ? contractCheckedFetch : fetch;
  const res = await doFetch(`${conn.baseUrl}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const parsed = text && /json/.test(type) ? JSON.parse(text) : text || undefined;
  return { status: res.status, headers: res.headers, body: parsed as T, res };
}

/** Asserts a problem+json answer with this status and code; returns the problem. */
export function expectProblem(reply: Reply, status: number, code: string, detailContains?: string): Problem {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const p = reply.body as Problem;
  expect(p.status).toBe(status);
  expect(p.code).toBe(code);
  expect(p.type).toBe(`/api/problems/${code}`);
  if (detailContains !== undefined) expect(p.detail).toContain(detailContains);
  return p;
}

/** 409 invalid-transition whose detail names the current status. */
export const expectInvalidTransition = (reply: Reply, current: string) => expectProblem(reply, 409, 'invalid-transition', current);
/** 409 lease-lost (its detail names the status when one is given). */
export const expectLeaseLost = (reply: Reply, status?: string) => expectProblem(reply, 409, 'lease-lost', status);

/**
 * An application of its own, with an admin key that belongs to it: runners claim from their whole
 * application, so every file works in its own application to keep other files' runs away.
 */
export async function isolatedApp(name = 'runs'): Promise<{ appId: string; key: string; adminKey: string }> {
  const adminKey = await freshAdmin();
  const app = await createApplication(adminKey, uniqueName(name));
  const key = await createKey({ scopes: ['admin'], by: adminKey, appId: app.id });
  return { appId: app.id, key: key.secret, adminKey };
}

/** A label no other test uses. */
export const label = () => `l-${token()}`;

export async function newAgent(conn: Conn, body: Record<string, unknown> = {}): Promise<Agent> {
  const r = await call<Agent>(conn, 'POST', '/api/v1/agents', { name: uniqueName('agent'), model: 'gpt-4.1', ...body });
  if (r.status !== 201) throw new Error(`creating an agent failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function newRunner(conn: Conn, labels: string[] = [], name = uniqueName('runner')): Promise<RunnerWithToken> {
  const r = await call<RunnerWithToken>(conn, 'POST', '/api/v1/runners', { name, labels });
  if (r.status !== 201) throw new Error(`registering a runner failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export const createRunReq = (conn: Conn, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call<Run>(conn, 'POST', '/api/v1/runs', body, headers);

export async function newRun(conn: Conn, agentId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Run> {
  const r = await createRunReq(conn, { agentId, ...extra }, headers);
  if (r.status !== 201) throw new Error(`creating a run failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export const getRun = async (conn: Conn, runId: string) => {
  const r = await call<Run>(conn, 'GET', `/api/v1/runs/${runId}`);
  expect(r.status).toBe(200);
  return r.body;
};

export const cancelRun = (conn: Conn, runId: string) => call<Run>(conn, 'POST', `/api/v1/runs/${runId}/cancel`);
/** The version that last had `waitRun` and `resumeRun` (waits-release-leases removed them): what their clients send. */
export const BEFORE_APPROVALS = { 'Switchboard-Version': '2026-12-05' };

export const resumeRun = (conn: Conn, runId: string, input?: Record<string, unknown>) =>
  call<Run>(conn, 'POST', `/api/v1/runs/${runId}/resume`, input === undefined ? undefined : { input }, BEFORE_APPROVALS);

/** Every event of a run, through listRunEvents pages. */
export async function runEvents(conn: Conn, runId: string): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  let after = 0;
  for (;;) {
    const r = await call<{ data: RunEvent[]; hasMore: boolean; nextAfter: number | null }>(
      conn,
      'GET',
      `/api/v1/runs/${runId}/events?after=${after}&limit=1000`,
    );
    expect(r.status).toBe(200);
    out.push(...r.body.data);
    if (!r.body.hasMore) return out;
    after = r.body.nextAfter!;
  }
}

/** The runner's side. `conn.key` is the runner token. */
export const runnerConn = (baseUrl: string, runner: { token: string }): Conn => ({ baseUrl, key: runner.token });

export const claimReq = (conn: Conn, runnerId: string, wait = 0) => call<Claim>(conn, 'POST', `/api/v1/runners/${runnerId}/claims?wait=${wait}`);

export async function claim(conn: Conn, runnerId: string, wait = 0): Promise<Claim> {
  const r = await claimReq(conn, runnerId, wait);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export const heartbeat = (conn: Conn, leaseId: string, fencingToken: number) =>
  call<{ lease: Lease; run: Run }>(conn, 'POST', `/api/v1/leases/${leaseId}/heartbeat`, { fencingToken });

export type EventIn = { runnerSeq: number; type: string; data?: Record<string, unknown> };
export const appendEvents = (conn: Conn, leaseId: string, fencingToken: number, events: EventIn[]) =>
  call<{ object: string; accepted: number; duplicates: number; events: RunEvent[] }>(conn, 'POST', `/api/v1/leases/${leaseId}/events`, {
    fencingToken,
    events,
  });

export const complete = (conn: Conn, leaseId: string, body: Record<string, unknown>) => call<Run>(conn, 'POST', `/api/v1/leases/${leaseId}/complete`, body);

export const waitRun = (
  conn: Conn,
  leaseId: string,
  fencingToken: number,
  requiredAction: Record<string, unknown> = { type: 'approval', message: 'May I?', data: { amount: 1 } },
) => call<Run>(conn, 'POST', `/api/v1/leases/${leaseId}/wait`, { fencingToken, requiredAction }, BEFORE_APPROVALS);

export const logs = (from: number, count: number): EventIn[] =>
  Array.from({ length: count }, (_, i) => ({ runnerSeq: from + i, type: 'log', data: { level: 'info', message: `line ${from + i}` } }));

/** Only the `status` events' data, in order. */
export const statusTrail = (events: RunEvent[]) =>
  events.filter((e) => e.type === 'status').map((e) => ({ status: e.data.status, previousStatus: e.data.previousStatus }));

// ---------------------------------------------------------------------------------------------
// Server-Sent Events, read with fetch and parsed by eventsource-parser.

export type SseMessage = { id: string | undefined; event: string | undefined; data: string; json: RunEvent };

/** An open SSE response, read message by message. */
export class SseStream {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  ended = false;
  private waiters: (() => void)[] = [];
  private readonly controller: AbortController;
  readonly response: Response;
  readonly done: Promise<void>;

  private constructor(response: Response, controller: AbortController) {
    this.response = response;
    this.controller = controller;
    const parser = createParser({
      onEvent: (m: EventSourceMessage) => {
        this.messages.push({ id: m.id, event: m.event, data: m.data, json: JSON.parse(m.data) as RunEvent });
        this.wake();
      },
      onComment: (c) => {
        this.comments.push(c);
        this.wake();
      },
    });
    this.done = (async () => {
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        // aborted
      } finally {
        this.ended = true;
        this.wake();
      }
    })();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const controller = new AbortController();
    const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: controller.signal });
    if (res.status !== 200) throw new Error(`stream ${url} answered ${res.status}: ${await res.text()}`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    return new SseStream(res, controller);
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `predicate` holds (checked after each message or comment), or throws when the stream ended first. */
  async until(predicate: (s: SseStream) => boolean, what = 'condition'): Promise<void> {
    for (;;) {
      if (predicate(this)) return;
      if (this.ended) throw new Error(`stream ended before ${what}; got ${this.messages.length} messages: ${this.messages.map((m) => m.id).join(',')}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Waits until `n` messages arrived. */
  untilCount(n: number) {
    return this.until((s) => s.messages.length >= n, `${n} messages`);
  }

  /** Waits for the server to end the stream. */
  async untilEnd(): Promise<void> {
    await this.done;
  }

  close() {
    this.controller.abort();
  }
}

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

/** Asserts messages are exactly the run events `from..to` of one run (id = seq, contiguous). */
export function expectRunMessages(messages: SseMessage[], runId: string, from: number, to: number) {
  expect(messages.map((m) => Number(m.id))).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
  for (const m of messages) {
    expect(m.json.runId).toBe(runId);
    expect(m.json.seq).toBe(Number(m.id));
    expect(m.event).toBe(m.json.type);
  }
}
