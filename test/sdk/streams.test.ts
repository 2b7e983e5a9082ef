import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, Switchboard, type Claim, type JsonPayload, type RunEvent } from '@switchboard/sdk';
import { absent, ownApp, token, uniqueName, until } from './helpers.js';
import { startProxy, type Action, type Proxy } from './proxy.js';

let sb: Switchboard;
let key: string;
let serverUrl: string;
const proxies: Proxy[] = [];

beforeAll(async () => {
  ({ sb, key, serverUrl } = await ownApp('sdk streams'));
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** An agent with a label of its own and a runner driven by hand over HTTP with its `sbr_` token. */
async function scenario() {
  const label = `l-${token()}`;
  const agent = await sb.agents.create({ name: uniqueName('streamed'), model: 'gpt-4.1', labels: [label] });
  const runner = await sb.runners.register({ name: uniqueName('hand runner'), labels: [label] });
  const rc = new Switchboard({ baseUrl: serverUrl, apiKey: runner.token });
  let runnerSeq = 0;
  const driver = {
    agent,
    async claim(runId: string): Promise<Claim> {
      const claim = await rc.runners.claim(runner.id, { wait: 10 });
      expect(claim?.run.id).toBe(runId);
      return claim!;
    },
    async logs(claim: Claim, count: number) {
      const events = Array.from({ length: count }, () => ({ runnerSeq: ++runnerSeq, type: 'log', data: { level: 'info', message: `line ${runnerSeq}` } }));
      await rc.runners.appendEvents(claim.lease.id, { fencingToken: claim.lease.fencingToken, events });
    },
    succeed: (claim: Claim, output: JsonPayload = { ok: true }) =>
      rc.runners.complete(claim.lease.id, { fencingToken: claim.lease.fencingToken, status: 'succeeded', output }),
    fail: (claim: Claim, error: { code: string; message: string }) =>
      rc.runners.complete(claim.lease.id, { fencingToken: claim.lease.fencingToken, status: 'failed', error }),
  };
  return driver;
}

/** Iterates `events` into `into` (in the background when not awaited). */
async function collect(events: AsyncIterable<RunEvent>, into: RunEvent[]) {
  for await (const e of events) into.push(e);
}

/** Every stored event of the run. */
async function stored(runId: string): Promise<RunEvent[]> {
  return (await sb.runs.events(runId, { limit: 1000 })).data;
}

const seqs = (events: RunEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const isRealtime = (path: string) => path.startsWith('/api/v1/realtime/');

/** A proxy for streams only: the first realtime request gets `first`, everything else is forwarded. */
async function streamProxy(first: (index: number) => Action | undefined) {
  let streams = 0;
  const proxy = await startProxy(serverUrl, (s) => (isRealtime(s.path) ? (first(streams++) ?? { kind: 'forward' }) : { kind: 'forward' }));
  proxies.push(proxy);
  return { proxy, client: new Switchboard({ baseUrl: proxy.url, apiKey: key }) };
}

describe('runs.stream', () => {
  it('follows a run a runner drives to its terminal status, then ends: every event once, seq 1..n in order', async () => {
    const d = await scenario();
    const run = await sb.runs.create({ agentId: d.agent.id, input: { n: 1 } });
    const seen: RunEvent[] = [];
    const following = collect(sb.runs.stream(run.id), seen);
    await until(() => seen.length >= 1, 'the queued event');

    const claim = await d.claim(run.id);
    await until(() => seen.length >= 2, 'the running event');
    await d.logs(claim, 4);
    await d.logs(claim, 6);
    await d.succeed(claim, { answer: 42 });
    await following;

    expect(seqs(seen)).toEqual(range(1, 13));
    expect(seen).toEqual(await stored(run.id));
    expect(seen.every((e) => e.runId === run.id)).toBe(true);
    expect(seen.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
    expect((await sb.runs.get(run.id)).output).toEqual({ answer: 42 });
  });

  it('FORCED DISCONNECT: a stream cut after event k is resumed with Last-Event-ID: k; the run goes on; every event once, in order', async () => {
    const K = 4;
    let cut!: () => void;
    const wasCut = new Promise<void>((r) => (cut = r));
    const { proxy, client } = await streamProxy((i) => (i === 0 ? { kind: 'cut-sse', events: K, onCut: cut } : undefined));
    const streamRequests = () => proxy.seen.filter((s) => isRealtime(s.path));

    const d = await scenario();
    const run = await sb.runs.create({ agentId: d.agent.id });
    const claim = await d.claim(run.id);
    await d.logs(claim, 5); // events 1..7 exist before the stream opens

    const seen: RunEvent[] = [];
    const following = collect(client.runs.stream(run.id), seen);
    await wasCut;
    // While the client is disconnected the run goes on.
    await d.logs(claim, 5); // 8..12
    await until(() => streamRequests().length === 2, 'the reconnection');
    expect(streamRequests().map((s) => s.lastEventId)).toEqual([undefined, String(K)]);
    await until(() => seen.length >= 12, 'events up to 12 after the reconnection');
    await d.logs(claim, 3); // 13..15
    await d.succeed(claim); // 16
    await following;

    expect(seqs(seen)).toEqual(range(1, 16));
    expect(seen).toEqual(await stored(run.id));
    expect(streamRequests()).toHaveLength(2);
  });

  it('FORCED DISCONNECT: a run that finishes while the stream is cut still delivers every event after k, once, in order', async () => {
    const K = 3;
    let cut!: () => void;
    const wasCut = new Promise<void>((r) => (cut = r));
    let finished!: () => void;
    const runFinished = new Promise<void>((r) => (finished = r));
    let streams = 0;
    const proxy = await startProxy(serverUrl, (s) => {
      if (isRealtime(s.path)) return streams++ === 0 ? { kind: 'cut-sse', events: K, onCut: cut } : { kind: 'forward' };
      // Anything else the client asks while disconnected is answered once the run has finished.
      return { kind: 'delay', until: runFinished };
    });
    proxies.push(proxy);
    const client = new Switchboard({ baseUrl: proxy.url, apiKey: key });

    const d = await scenario();
    const run = await sb.runs.create({ agentId: d.agent.id });
    const claim = await d.claim(run.id);
    await d.logs(claim, 3); // 1..5

    const seen: RunEvent[] = [];
    const following = collect(client.runs.stream(run.id), seen);
    await wasCut;
    await d.logs(claim, 2); // 6..7
    await d.succeed(claim); // 8
    finished();
    await following;

    expect(seqs(seen)).toEqual(range(1, 8));
    const last = seen.at(-1);
    expect(last?.type === 'status' && last.data.status).toBe('succeeded');
  });

  describe('on a finished run', () => {
    let runId: string;
    let all: RunEvent[];

    beforeAll(async () => {
      const d = await scenario();
      const run = await sb.runs.create({ agentId: d.agent.id });
      const claim = await d.claim(run.id);
      await d.logs(claim, 7);
      await d.succeed(claim);
      runId = run.id;
      all = await stored(run.id);
      expect(seqs(all)).toEqual(range(1, 10));
    });

    it('replays it all and ends', async () => {
      const seen: RunEvent[] = [];
      await collect(sb.runs.stream(runId), seen);
      expect(seen).toEqual(all);
    });

    it('after: k starts after k', async () => {
      const seen: RunEvent[] = [];
      await collect(sb.runs.stream(runId, { after: 6 }), seen);
      expect(seqs(seen)).toEqual(range(7, 10));
      expect(seen).toEqual(all.slice(6));
    });

    it('resuming after its last event ends at once on the 204: one stream request, nothing delivered, no other call', async () => {
      const { proxy, client } = await streamProxy(() => undefined);
      const seen: RunEvent[] = [];
      await collect(client.runs.stream(runId, { after: 10 }), seen);
      expect(seen).toEqual([]);
      const streams = proxy.seen.filter((s) => isRealtime(s.path));
      expect(streams).toHaveLength(1);
      expect(streams[0]!.lastEventId).toBe('10');
      // 204 is the end itself: the stream does not ask whether the run has finished.
      expect(proxy.seen.filter((s) => !isRealtime(s.path))).toEqual([]);
    });
  });

  it('a run that does not exist throws NotFoundError after one request (no retry loop)', async () => {
    const { proxy, client } = await streamProxy(() => undefined);
    const seen: RunEvent[] = [];
    const err = await collect(client.runs.stream(absent('run')), seen).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('not-found');
    expect(seen).toEqual([]);
    expect(proxy.seen.filter((s) => isRealtime(s.path))).toHaveLength(1);
  });

  it('aborting the signal ends the iteration', async () => {
    const d = await scenario();
    const run = await sb.runs.create({ agentId: d.agent.id });
    const controller = new AbortController();
    const seen: RunEvent[] = [];
    const following = collect(sb.runs.stream(run.id, { signal: controller.signal }), seen);
    await until(() => seen.length >= 1, 'the queued event');
    controller.abort();
    await following;
    expect(seqs(seen)).toEqual([1]);
    await sb.runs.cancel(run.id);
  });
});

describe('runs.streamAll', () => {
  it("with agentId delivers only that agent's events", async () => {
    const a = await scenario();
    const b = await scenario();
    // B's run happens first, so its events are in the application's stream before A's.
    const runB = await sb.runs.create({ agentId: b.agent.id });
    const claimB = await b.claim(runB.id);
    await b.logs(claimB, 2);
    await b.succeed(claimB);

    const controller = new AbortController();
    const seen: RunEvent[] = [];
    const following = (async () => {
      for await (const e of sb.runs.streamAll({ agentId: a.agent.id, signal: controller.signal })) {
        seen.push(e);
        if (e.type === 'status' && e.data.status === 'succeeded') break;
      }
    })();

    const runA = await sb.runs.create({ agentId: a.agent.id });
    const claimA = await a.claim(runA.id);
    await a.logs(claimA, 3);
    await a.succeed(claimA);
    await following;

    expect(new Set(seen.map((e) => e.runId))).toEqual(new Set([runA.id]));
    expect(seen).toEqual(await stored(runA.id));
    expect(seen.map((e) => e.runId)).not.toContain(runB.id);
  });

  it('resumes after a forced disconnect from the last application cursor it saw: every event once, in order', async () => {
    const K = 3;
    let cut!: () => void;
    const wasCut = new Promise<void>((r) => (cut = r));
    const { proxy, client } = await streamProxy((i) => (i === 0 ? { kind: 'cut-sse', events: K, onCut: cut } : undefined));
    const d = await scenario();
    const run = await sb.runs.create({ agentId: d.agent.id });
    const claim = await d.claim(run.id);
    await d.logs(claim, 3); // 1..5

    const seen: RunEvent[] = [];
    const following = (async () => {
      for await (const e of client.runs.streamAll({ agentId: d.agent.id })) {
        seen.push(e);
        if (e.type === 'status' && e.data.status === 'succeeded') break;
      }
    })();
    await wasCut;
    await d.logs(claim, 2); // 6..7
    await until(() => proxy.count((s) => isRealtime(s.path)) === 2, 'the reconnection');
    await d.succeed(claim); // 8
    await following;

    expect(seqs(seen)).toEqual(range(1, 8));
    expect(seen).toEqual(await stored(run.id));
    const resumed = proxy.seen.filter((s) => isRealtime(s.path))[1]!;
    expect(resumed.lastEventId).toMatch(/^\d+$/);
  });

  it("without agentId delivers every agent's runs of the application", async () => {
    const a = await scenario();
    const b = await scenario();
    const runA = await sb.runs.create({ agentId: a.agent.id });
    const runB = await sb.runs.create({ agentId: b.agent.id });
    const done = new Set<string>();
    const seen: RunEvent[] = [];
    const following = (async () => {
      for await (const e of sb.runs.streamAll()) {
        if (e.runId === runA.id || e.runId === runB.id) seen.push(e);
        if (e.type === 'status' && e.data.status === 'cancelled') done.add(e.runId);
        if (done.has(runA.id) && done.has(runB.id)) break;
      }
    })();
    await sb.runs.cancel(runA.id);
    await sb.runs.cancel(runB.id);
    await following;
    expect(seen.filter((e) => e.runId === runA.id)).toEqual(await stored(runA.id));
    expect(seen.filter((e) => e.runId === runB.id)).toEqual(await stored(runB.id));
  });
});

describe('runs.createAndWait', () => {
  it('returns the run succeeded by a runner we drive', async () => {
    const d = await scenario();
    const waiting = sb.runs.createAndWait({ agentId: d.agent.id, input: { n: 2 } });
    const claim = await d.claim((await waitForRun(d.agent.id)).id);
    expect(claim.run.input).toEqual({ n: 2 });
    await d.logs(claim, 2);
    await d.succeed(claim, { doubled: 4 });
    const run = await waiting;
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ doubled: 4 });
    expect(run.lastResponse.requestId).toMatch(/^req_/);
  });

  it('returns the run failed', async () => {
    const d = await scenario();
    const waiting = sb.runs.createAndWait({ agentId: d.agent.id });
    const claim = await d.claim((await waitForRun(d.agent.id)).id);
    await d.fail(claim, { code: 'boom', message: 'It broke.' });
    const run = await waiting;
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ code: 'boom', message: 'It broke.' });
  });

  it('returns the run cancelled', async () => {
    const d = await scenario();
    const waiting = sb.runs.createAndWait({ agentId: d.agent.id });
    const queued = await waitForRun(d.agent.id);
    await sb.runs.cancel(queued.id);
    const run = await waiting;
    expect(run.id).toBe(queued.id);
    expect(run.status).toBe('cancelled');
  });
});

/** The one run of an agent, once createAndWait has created it. */
async function waitForRun(agentId: string) {
  let found: { id: string } | undefined;
  await until(
    async () => {
      found = (await sb.runs.list({ agentId })).data[0];
      return found !== undefined;
    },
    `a run of ${agentId}`,
    200,
    50,
  );
  return found!;
}
