import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventSource } from 'eventsource';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startProxy, type Proxy } from '../sdk/proxy.js';
import {
  appendEvents,
  bearer,
  call,
  cancelRun,
  claim,
  complete,
  expectProblem,
  expectRunMessages,
  isolatedApp,
  label,
  logs,
  newAgent,
  newRun,
  newRunner,
  resumeRun,
  runEvents,
  runnerConn,
  SseStream,
  waitRun,
  type Conn,
  type Run,
  type RunEvent,
  type RunnerWithToken,
} from './run-helpers.js';

let app: Conn;
let other: Conn;
let serverUrl: string;

const open: SseStream[] = [];
async function stream(path: string, headers: Record<string, string> = {}, key: string | null = app.key): Promise<SseStream> {
  const s = await SseStream.open(`${serverUrl}${path}`, { ...(key ? bearer(key) : {}), ...headers });
  open.push(s);
  return s;
}

beforeAll(async () => {
  serverUrl = inject('serverUrl');
  app = { baseUrl: inject('auditUrl'), key: (await isolatedApp('streams')).key };
  other = { baseUrl: inject('auditUrl'), key: (await isolatedApp('streams other')).key };
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** An agent with a runner of its own. */
async function scenario() {
  const l = label();
  const agent = await newAgent(app, { labels: [l] });
  const runner = await newRunner(app, [l]);
  return { agent, runner, rc: runnerConn(inject('auditUrl'), runner) };
}

/** Drives a queued run to succeeded with `logCount` log events in batches; returns its events. */
async function drive(runner: RunnerWithToken, rc: Conn, runId: string, logCount: number, batch = 50): Promise<RunEvent[]> {
  const c = await claim(rc, runner.id);
  expect(c.run.id).toBe(runId);
  for (let i = 0; i < logCount; i += batch) {
    const res = await appendEvents(rc, c.lease.id, c.lease.fencingToken, logs(i + 1, Math.min(batch, logCount - i)));
    expect(res.status).toBe(200);
  }
  expect((await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', output: { ok: true } })).status).toBe(200);
  return runEvents(app, runId);
}

describe('a run with 200 events', () => {
  let run: Run;
  let events: RunEvent[];
  const LAST = 200;

  beforeAll(async () => {
    const s = await scenario();
    run = await newRun(app, s.agent.id);
    // queued + running + 197 logs + succeeded = 200 events.
    events = await drive(s.runner, s.rc, run.id, LAST - 3);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: LAST }, (_, i) => i + 1));
    expect(events[LAST - 1]!.data.status).toBe('succeeded');
  });

  it('a finished run replays all its events, then the stream closes by itself', async () => {
    const s = await stream(`/api/v1/realtime/runs/${run.id}`);
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, 1, LAST);
    expect(s.messages.map((m) => m.json)).toEqual(events);
    expect(s.messages[LAST - 1]!.event).toBe('status');
  });

  it('read to a random event k, abort, resume with Last-Event-ID: k — 20 times: exactly k+1..200, then the end', async () => {
    const ks = new Set<number>([1, LAST - 1]);
    while (ks.size < 20) ks.add(1 + Math.floor(Math.random() * (LAST - 1)));
    for (const k of ks) {
      const first = await stream(`/api/v1/realtime/runs/${run.id}`);
      await first.untilCount(k);
      first.close();
      expectRunMessages(first.messages.slice(0, k), run.id, 1, k);
      const lastId = first.messages[k - 1]!.id!;
      expect(lastId).toBe(String(k));

      const resumed = await stream(`/api/v1/realtime/runs/${run.id}`, { 'Last-Event-ID': lastId });
      await resumed.untilEnd();
      expectRunMessages(resumed.messages, run.id, k + 1, LAST);
      expect(resumed.messages.map((m) => m.json)).toEqual(events.slice(k));
    }
  }, 60_000);

  it('?after=k works like Last-Event-ID; Last-Event-ID wins when both are sent', async () => {
    const s = await stream(`/api/v1/realtime/runs/${run.id}?after=150`);
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, 151, LAST);
    const both = await stream(`/api/v1/realtime/runs/${run.id}?after=10`, { 'Last-Event-ID': '190' });
    await both.untilEnd();
    expectRunMessages(both.messages, run.id, 191, LAST);
    const zero = await stream(`/api/v1/realtime/runs/${run.id}?after=0`);
    await zero.untilEnd();
    expectRunMessages(zero.messages, run.id, 1, LAST);
  });

  it('resuming at or past the terminal event is 204 No Content (what stops an EventSource), with Request-Id and rate limit headers', async () => {
    const resumes: Record<string, string>[] = [{ 'Last-Event-ID': String(LAST) }, { 'Last-Event-ID': String(LAST + 5) }, {}];
    for (const resume of resumes) {
      const query = Object.keys(resume).length ? '' : `?after=${LAST}`;
      const res = await fetch(`${serverUrl}/api/v1/realtime/runs/${run.id}${query}`, {
        headers: { ...bearer(app.key), Accept: 'text/event-stream', ...resume },
      });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe('');
      expect(res.headers.get('request-id')).toMatch(/^req_/);
      expect(res.headers.get('ratelimit')).toMatch(/^"read";r=\d+;t=\d+$/);
      expect(res.headers.get('ratelimit-policy')).toMatch(/^"read";q=\d+;w=\d+$/);
    }
    // One event short of the end is still a stream: it sends the terminal event, then closes.
    const s = await stream(`/api/v1/realtime/runs/${run.id}`, { 'Last-Event-ID': String(LAST - 1) });
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, LAST, LAST);
  }, 10_000);

  it('?token= authenticates the stream (for EventSource); a bad or missing token is 401 problem+json, not a stream', async () => {
    const s = await stream(`/api/v1/realtime/runs/${run.id}?token=${encodeURIComponent(app.key)}&after=195`, {}, null);
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, 196, LAST);

    for (const query of [`?token=sbk_${'x'.repeat(43)}`, '?token=nonsense', '']) {
      const res = await fetch(`${serverUrl}/api/v1/realtime/runs/${run.id}${query}`, { headers: { Accept: 'text/event-stream' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('unauthorized');
    }
    // ?token= is for the realtime routes only.
    const rest = await fetch(`${serverUrl}/api/v1/runs/${run.id}?token=${encodeURIComponent(app.key)}`);
    expect(rest.status).toBe(401);
    await rest.body?.cancel();
  });

  it('the header credential X-API-Token works too', async () => {
    const s = await stream(`/api/v1/realtime/runs/${run.id}?after=198`, { 'X-API-Token': app.key }, null);
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, 199, LAST);
  });

  it("another application's run stream is 404; an unknown run is 404", async () => {
    for (const [key, id] of [
      [other.key, run.id],
      [app.key, 'run_01jd4x7p2kf8q6v3b9m5t0s1ab'],
    ] as const) {
      const res = await fetch(`${serverUrl}/api/v1/realtime/runs/${id}`, { headers: bearer(key) });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('not-found');
    }
  });
});

describe('history, then live, with no gap', () => {
  it('a stream opened on a queued run receives everything the runner does, in order, and ends after the terminal event', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const s = await stream(`/api/v1/realtime/runs/${run.id}`);
    // Everything happens while the stream replays and goes live: no waiting on the reader in between.
    const events = await drive(runner, rc, run.id, 60, 7);
    await s.untilEnd();
    expect(events.length).toBe(63);
    expectRunMessages(s.messages, run.id, 1, 63);
    expect(s.messages.map((m) => m.json)).toEqual(events);
  });

  it('step by step: each event arrives as it happens, waiting and resume included', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const s = await stream(`/api/v1/realtime/runs/${run.id}`);
    await s.untilCount(1);
    expect(s.messages[0]!.json.data).toMatchObject({ status: 'queued' });
    const c = await claim(rc, runner.id);
    await s.untilCount(2);
    expect(s.messages[1]!.json.data).toMatchObject({ status: 'running', previousStatus: 'queued' });
    expect((await appendEvents(rc, c.lease.id, 1, [{ runnerSeq: 1, type: 'output.delta', data: { text: 'Hel' } }])).status).toBe(200);
    await s.untilCount(3);
    expect(s.messages[2]!).toMatchObject({ event: 'output.delta', json: { type: 'output.delta', data: { text: 'Hel' } } });
    expect((await waitRun(rc, c.lease.id, 1)).status).toBe(200);
    await s.untilCount(5);
    expect(s.messages[3]!).toMatchObject({ event: 'approval.requested', json: { data: { status: 'pending', runId: run.id } } });
    expect(s.messages[4]!.json.data).toMatchObject({ status: 'waiting' });
    expect((await resumeRun(app, run.id, { approved: true })).status).toBe(200);
    await s.untilCount(7);
    expect(s.messages[5]!).toMatchObject({ event: 'approval.decided', json: { data: { status: 'approved' } } });
    expect(s.messages[6]!.json.data).toMatchObject({ status: 'running', previousStatus: 'waiting' });
    expect(s.ended).toBe(false);
    expect((await cancelRun(app, run.id)).status).toBe(200);
    await s.untilEnd();
    expectRunMessages(s.messages, run.id, 1, 8);
    expect(s.messages[7]!.json.data).toMatchObject({ status: 'cancelled', previousStatus: 'running' });
    expect(s.messages.map((m) => m.json)).toEqual(await runEvents(app, run.id));
  });

  it('several streams on one run all receive the same events', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const streams = await Promise.all([1, 2, 3].map(() => stream(`/api/v1/realtime/runs/${run.id}`)));
    const events = await drive(runner, rc, run.id, 30, 10);
    for (const s of streams) {
      await s.untilEnd();
      expect(s.messages.map((m) => m.json)).toEqual(events);
    }
  });
});

describe('application-wide and agent streams', () => {
  /** The application's last cursor now, made visible by a run of its own. */
  async function headCursor(agentId: string): Promise<number> {
    const marker = await newRun(app, agentId);
    await cancelRun(app, marker.id);
    const evs = await runEvents(app, marker.id);
    return evs[evs.length - 1]!.cursor;
  }

  it('/api/v1/realtime/runs delivers the live events of runs created after connecting; ids are the growing cursor; resumes with Last-Event-ID', async () => {
    const a = await scenario();
    const b = await scenario();
    const start = await headCursor(a.agent.id);
    const s = await stream('/api/v1/realtime/runs', { 'Last-Event-ID': String(start) });

    const runs = [await newRun(app, a.agent.id), await newRun(app, b.agent.id)];
    await drive(a.runner, a.rc, runs[0]!.id, 5, 2);
    await drive(b.runner, b.rc, runs[1]!.id, 5, 3);
    const third = await newRun(app, a.agent.id);
    expect((await cancelRun(app, third.id)).status).toBe(200);
    const expected = [...(await runEvents(app, runs[0]!.id)), ...(await runEvents(app, runs[1]!.id)), ...(await runEvents(app, third.id))].sort(
      (x, y) => x.cursor - y.cursor,
    );
    expect(expected.map((e) => e.cursor)).toEqual(Array.from({ length: expected.length }, (_, i) => start + 1 + i));

    await s.untilCount(expected.length);
    expect(s.messages.map((m) => m.json)).toEqual(expected);
    expect(s.messages.map((m) => m.id)).toEqual(expected.map((e) => String(e.cursor)));
    expect(s.messages.map((m) => m.event)).toEqual(expected.map((e) => e.type));

    // One more event proves nothing else (no duplicate) came before it.
    const sentinel = await newRun(app, b.agent.id);
    await s.untilCount(expected.length + 1);
    expect(s.messages[expected.length]!.json).toMatchObject({ runId: sentinel.id, cursor: start + expected.length + 1 });
    expect(s.messages.length).toBe(expected.length + 1);
    s.close();

    // Resume from the middle.
    const mid = expected[Math.floor(expected.length / 2)]!.cursor;
    const resumed = await stream('/api/v1/realtime/runs', { 'Last-Event-ID': String(mid) });
    const rest = [...expected.filter((e) => e.cursor > mid), ...(await runEvents(app, sentinel.id))];
    await resumed.untilCount(rest.length);
    expect(resumed.messages.map((m) => m.json)).toEqual(rest);
    // ... and live again.
    await cancelRun(app, sentinel.id);
    await resumed.untilCount(rest.length + 1);
    expect(resumed.messages[rest.length]!.json).toMatchObject({ runId: sentinel.id, type: 'status', data: { status: 'cancelled' } });
    expect(resumed.messages.length).toBe(rest.length + 1);
  });

  it("/api/v1/realtime/agents/{agentId}/runs delivers only that agent's runs, and resumes with Last-Event-ID", async () => {
    const a = await scenario();
    const b = await scenario();
    const start = await headCursor(a.agent.id);
    const s = await stream(`/api/v1/realtime/agents/${a.agent.id}/runs?after=${start}`);

    const ra1 = await newRun(app, a.agent.id);
    const rb1 = await newRun(app, b.agent.id);
    await drive(b.runner, b.rc, rb1.id, 4, 2);
    await drive(a.runner, a.rc, ra1.id, 4, 3);
    const rb2 = await newRun(app, b.agent.id);
    const ra2 = await newRun(app, a.agent.id);
    await cancelRun(app, rb2.id);
    await cancelRun(app, ra2.id);
    const expected = [...(await runEvents(app, ra1.id)), ...(await runEvents(app, ra2.id))].sort((x, y) => x.cursor - y.cursor);
    expect(expected.length).toBe(1 + 1 + 4 + 1 + 2);

    await s.untilCount(expected.length);
    expect(s.messages.map((m) => m.json)).toEqual(expected);
    expect(s.messages.map((m) => m.id)).toEqual(expected.map((e) => String(e.cursor)));
    const ids = s.messages.map((m) => Number(m.id));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);

    // B's sentinel does not show; A's does, right after the last expected one.
    const sb = await newRun(app, b.agent.id);
    const sa = await newRun(app, a.agent.id);
    await s.untilCount(expected.length + 1);
    expect(s.messages[expected.length]!.json.runId).toBe(sa.id);
    expect(s.messages.length).toBe(expected.length + 1);
    s.close();

    const mid = expected[3]!.cursor;
    const resumed = await stream(`/api/v1/realtime/agents/${a.agent.id}/runs`, { 'Last-Event-ID': String(mid) });
    const rest = [...expected.slice(4), ...(await runEvents(app, sa.id))];
    await resumed.untilCount(rest.length);
    expect(resumed.messages.map((m) => m.json)).toEqual(rest);
    for (const r of [sa, sb]) await cancelRun(app, r.id);
    await resumed.untilCount(rest.length + 1);
    expect(resumed.messages[rest.length]!.json).toMatchObject({ runId: sa.id, data: { status: 'cancelled' } });
  });

  it("another application's agent stream is 404; its application stream shows none of this application's events", async () => {
    const a = await scenario();
    const res = await fetch(`${serverUrl}/api/v1/realtime/agents/${a.agent.id}/runs`, { headers: bearer(other.key) });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('not-found');

    const otherAgent = await newAgent(other, { labels: [label()] });
    const s = await stream('/api/v1/realtime/runs', {}, other.key);
    await newRun(app, a.agent.id);
    const theirs = await newRun(other, otherAgent.id);
    await s.until((x) => x.messages.some((m) => m.json.runId === theirs.id), "the other application's run");
    const ownRuns = new Set((await call<{ data: Run[] }>(other, 'GET', '/api/v1/runs?pageSize=100')).body.data.map((r) => r.id));
    expect(s.messages.every((m) => ownRuns.has(m.json.runId))).toBe(true);
  });

  it('a bad token on the application stream is 401 problem+json; a malformed Last-Event-ID is 422', async () => {
    const res = await fetch(`${serverUrl}/api/v1/realtime/runs?token=sbk_${'y'.repeat(43)}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    await res.body?.cancel();
    const bad = await call(app, 'GET', '/api/v1/realtime/runs', undefined, { 'Last-Event-ID': 'abc' });
    expectProblem(bad, 422, 'validation-error');
  });
});

describe('keep-alive', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ SSE_PING_SECONDS: '0.2' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('sends ": ping" comments on an idle stream', async () => {
    const s = await SseStream.open(`${server.url}/api/v1/realtime/runs`, bearer(server.adminKey));
    open.push(s);
    await s.until((x) => x.comments.filter((c) => c.trim() === 'ping').length >= 2, 'two pings');
    expect(s.messages).toEqual([]);
    expect(s.comments.every((c) => c.trim() === 'ping')).toBe(true);
  });
});

describe('a WHATWG EventSource (the eventsource package)', () => {
  const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];
  let proxy: Proxy;
  const sources: EventSource[] = [];
  // Every connection the client makes goes through this proxy on loopback, which counts them.
  const streamRequests = (runId: string) => proxy.seen.filter((r) => r.path.startsWith(`/api/v1/realtime/runs/${runId}`));

  beforeAll(async () => {
    proxy = await startProxy(serverUrl);
  });
  afterEach(() => {
    for (const es of sources.splice(0)) es.close();
  });
  afterAll(async () => {
    await proxy?.close();
  });

  /** Opens an EventSource on the run's stream (credential in ?token=, as browsers must) and records what it gets. */
  function follow(runId: string) {
    const es = new EventSource(`${proxy.url}/api/v1/realtime/runs/${runId}?token=${encodeURIComponent(app.key)}`);
    sources.push(es);
    const seen: { id: string; type: string; seq: number; status?: string }[] = [];
    let errors = 0;
    const record = (e: MessageEvent<string>) => {
      const event = JSON.parse(e.data) as RunEvent;
      seen.push({ id: e.lastEventId, type: e.type, seq: event.seq, status: event.data.status as string | undefined });
    };
    for (const type of ['status', 'log']) es.addEventListener(type, record);
    es.addEventListener('error', () => errors++);
    return { es, seen, errors: () => errors };
  }

  async function untilClosed(es: EventSource, what: string) {
    const deadline = Date.now() + 10_000;
    while (es.readyState !== EventSource.CLOSED) {
      if (Date.now() > deadline)
        throw new Error(`the EventSource did not stop (${what}); it is still ${es.readyState === EventSource.OPEN ? 'open' : 'reconnecting'}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('gets every event of a finished run, then stops for good: one reconnect, answered 204', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const events = await drive(runner, rc, run.id, 3);
    expect(events).toHaveLength(6);

    const { es, seen } = follow(run.id);
    await untilClosed(es, 'finished run');
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(TERMINAL).toContain(seen.at(-1)!.status);
    // The first connection delivered everything; the reconnect resumed after the last event and got 204.
    expect(streamRequests(run.id).map((r) => r.lastEventId)).toEqual([undefined, '6']);
    await new Promise((r) => setTimeout(r, 2500));
    expect(streamRequests(run.id)).toHaveLength(2);
  }, 20_000);

  it('follows a live run to its end, then stops; a run that has not ended keeps its stream open at the same resume point', async () => {
    const { agent, runner, rc } = await scenario();
    const run = await newRun(app, agent.id);
    const { es, seen } = follow(run.id);
    const until = async (n: number) => {
      while (seen.length < n) await new Promise((r) => setTimeout(r, 25));
    };
    await until(1);
    const c = await claim(rc, runner.id);
    await until(2);
    // Not ended: resuming at its last event is a stream that waits for more, not 204.
    const waiting = await stream(`/api/v1/realtime/runs/${run.id}`, { 'Last-Event-ID': '2' });
    expect(waiting.response.status).toBe(200);
    expect((await appendEvents(rc, c.lease.id, c.lease.fencingToken, logs(1, 2))).status).toBe(200);
    expect((await complete(rc, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
    await untilClosed(es, 'live run');
    await waiting.untilEnd();
    expectRunMessages(waiting.messages, run.id, 3, 5);
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(streamRequests(run.id).map((r) => r.lastEventId)).toEqual([undefined, '5']);
  }, 20_000);
});
