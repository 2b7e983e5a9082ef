// 6. fan-out: 2,000 SSE subscribers on GET /api/v1/realtime/runs (in two child processes, one
// socket each) while a runner appends 100 events a second to a claimed run, each event carrying its
// production time; delivery latency p50/p99 over every (event, subscriber) pair, and the server's RSS.
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RUN_AGENT_BODY, registerRunner } from '../lib/fixtures.mjs';
import { apiClient, newAgent, now, request } from '../lib/http.mjs';
import { assertFileLimit, cpuSeconds, startSwitchboard } from '../lib/processes.mjs';
import { postgresBaseUrl, postgresDatabase } from '../lib/databases.mjs';
import { aggregate, percentileSorted } from '../lib/stats.mjs';

export const name = 'fan-out';
export const description =
  '2,000 SSE subscribers on /api/v1/realtime/runs; a runner appends 100 events/s (POST /leases/{id}/events); delivery latency and server RSS';

const CHILD = fileURLToPath(new URL('../lib/sse-subscribers.mjs', import.meta.url));
const MB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The runner: events are produced on a fixed schedule (event k at `started + k * interval`, stamped
 * with its production time) into a queue; the runner sends them in order, one append at a time,
 * each append carrying what queued up meanwhile (at most 500, the API's batch limit). A slow server
 * thus makes batches grow and latencies rise, but never slows the production rate.
 */
async function appendOnSchedule(total, interval, started, { url, token, http, lease }, batches) {
  const queue = [];
  let produced = 0;
  let wake;
  const production = (async () => {
    for (let k = 0; k < total; k++) {
      const wait = started + k * interval - now();
      if (wait > 1) await sleep(wait);
      queue.push({ runnerSeq: k + 1, type: 'bench.tick', data: { sentAt: now(), k } });
      produced++;
      wake?.();
    }
  })();
  while (produced < total || queue.length) {
    if (!queue.length) {
      await new Promise((r) => (wake = r));
      wake = undefined;
      continue;
    }
    const events = queue.splice(0, 500);
    const t = now();
    const res = await request(`${url}/api/v1/leases/${lease.id}/events`, {
      method: 'POST',
      agent: http,
      headers: { Authorization: `Bearer ${token}` },
      body: { fencingToken: lease.fencingToken, events },
    });
    if (res.status !== 200) throw new Error(`appendRunEvents answered ${res.status}: ${res.text}`);
    batches.push({ events: events.length, ms: res.at - t });
  }
  await production;
}

/** A subscriber process and a request/answer helper over its IPC channel. */
function subscriberProcess() {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const ask = (msg) =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`a subscriber process exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (reply) => {
        child.off('exit', onExit);
        resolve(reply);
      });
      child.send(msg);
    });
  return { child, ask };
}

export async function run(ctx) {
  // The server caps neither connections nor streams (it cuts off a stream only when 8 MB are
  // buffered for it), but it needs a file descriptor per subscriber.
  assertFileLimit(ctx.settings.subscribers + 1024);
  ctx.log('  SQLite (one process):');
  const sqlite = await fanOut(ctx);
  if (!postgresBaseUrl()) return sqlite;
  // The same on PostgreSQL with one worker process per core (WORKERS): the subscribers are spread
  // over the workers, and each event reaches the others through the shared bus.
  const redis = process.env.REDIS_URL;
  const workers = availableParallelism();
  const label = `PostgreSQL${redis ? ' + Redis' : ''}, WORKERS=${workers}`;
  ctx.log(`  ${label}:`);
  const env = { WORKERS: String(workers), ...(redis ? { REDIS_URL: redis } : {}) };
  const postgres = await fanOut(ctx, await postgresDatabase(), env);
  return {
    rows: [...sqlite.rows.map((r) => ({ ...r, measure: `SQLite: ${r.measure}` })), ...postgres.rows.map((r) => ({ ...r, measure: `${label}: ${r.measure}` }))],
    details: { sqlite: sqlite.details, postgres: { workers, redis: Boolean(redis), ...postgres.details } },
  };
}

async function fanOut({ settings, log }, database, env = {}) {
  // The lease outlives a round even when appends queue up behind the fan-out (the default is 30 s).
  const server = await startSwitchboard({ database, env: { LEASE_SECONDS: '600', ...env } });
  const children = [];
  try {
    const api = apiClient(server.url, server.key);
    const agent = await api.create('/api/v1/agents', RUN_AGENT_BODY);
    const runner = await registerRunner(api);
    const runnerHttp = newAgent();
    const idleRss = server.rss();

    // Subscribers, split over the child processes.
    const per = Math.ceil(settings.subscribers / settings.subscriberProcesses);
    for (let i = 0; i < settings.subscriberProcesses; i++) children.push(subscriberProcess());
    const opened = await Promise.all(
      children.map((c, i) =>
        c.ask({
          cmd: 'open',
          url: `${server.url}/api/v1/realtime/runs`,
          headers: { Authorization: `Bearer ${server.key}` },
          count: Math.min(per, settings.subscribers - i * per),
          concurrency: 50,
        }),
      ),
    );
    const ok = opened.reduce((n, o) => n + o.ok, 0);
    if (ok !== settings.subscribers)
      throw new Error(`only ${ok} of ${settings.subscribers} streams opened: ${opened.map((o) => o.firstError).filter(Boolean)[0]}`);
    await sleep(1000);
    const connectedRss = server.rss();
    log(`  ${ok} subscribers connected; server RSS ${(idleRss / MB).toFixed(0)} MB idle, ${(connectedRss / MB).toFixed(0)} MB with the streams open`);

    const count = async () =>
      (await Promise.all(children.map((c) => c.ask({ cmd: 'count' })))).reduce((a, r) => ({ recorded: a.recorded + r.recorded, ended: a.ended + r.ended }), {
        recorded: 0,
        ended: 0,
      });

    /** Claims a fresh run, produces `seconds` of events at the set rate, waits for delivery; returns the round's figures. */
    const produce = async (seconds) => {
      await Promise.all(children.map((c) => c.ask({ cmd: 'reset' })));
      await api.create('/api/v1/runs', { agentId: agent.id });
      const claimed = await request(`${server.url}/api/v1/runners/${runner.id}/claims?wait=5`, {
        method: 'POST',
        agent: runnerHttp,
        headers: { Authorization: `Bearer ${runner.token}` },
      });
      if (claimed.status !== 200) throw new Error(`claimRun answered ${claimed.status}: ${claimed.text}`);
      const { lease } = claimed.json();

      const total = Math.round(seconds * settings.eventsPerSecond);
      const interval = 1000 / settings.eventsPerSecond;
      const expected = total * settings.subscribers;
      let peakRss = server.rss();
      const sampler = setInterval(() => {
        try {
          peakRss = Math.max(peakRss, server.rss());
        } catch {
          // the server is gone: the round fails on its requests
        }
      }, 250);
      const started = now();
      const cpuBefore = server.cpu();
      const childCpuBefore = children.map((ch) => cpuSeconds(ch.child.pid));
      const batches = [];
      let c;
      try {
        await appendOnSchedule(total, interval, started, { url: server.url, token: runner.token, http: runnerHttp, lease }, batches);
        // Delivery: until every subscriber has every event, or 10 s after the last append was answered.
        const deadline = now() + 10_000;
        c = await count();
        while (c.recorded < expected && now() < deadline) {
          await sleep(100);
          c = await count();
        }
      } finally {
        clearInterval(sampler);
      }
      const elapsed = (now() - started) / 1000;
      const serverCpu = (server.cpu() - cpuBefore) / elapsed;
      peakRss = Math.max(peakRss, server.rss());
      const subscriberCpu = children.reduce((sum, ch, i) => sum + cpuSeconds(ch.child.pid) - childCpuBefore[i], 0) / elapsed;
      const done = await request(`${server.url}/api/v1/leases/${lease.id}/complete`, {
        method: 'POST',
        agent: runnerHttp,
        headers: { Authorization: `Bearer ${runner.token}` },
        body: { fencingToken: lease.fencingToken, status: 'succeeded', output: {} },
      });
      if (done.status !== 200) throw new Error(`completeRun answered ${done.status}: ${done.text}`);
      const parts = await Promise.all(children.map((ch) => ch.ask({ cmd: 'collect' })));
      const all = new Float64Array(parts.reduce((n, p) => n + p.latencies.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p.latencies, at);
        at += p.latencies.length;
      }
      all.sort();
      const appendMs = Float64Array.from(batches.map((b) => b.ms)).sort();
      return {
        events: total,
        expected,
        delivered: all.length,
        streamsEnded: c.ended,
        p50: percentileSorted(all, 50),
        p90: percentileSorted(all, 90),
        p99: percentileSorted(all, 99),
        max: all[all.length - 1],
        appends: batches.length,
        meanBatch: total / batches.length,
        appendP50: percentileSorted(appendMs, 50),
        appendP99: percentileSorted(appendMs, 99),
        peakRssMB: peakRss / MB,
        serverCpu,
        subscriberCpu,
      };
    };

    await produce(settings.eventWarmupSeconds);
    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const x = await produce(settings.eventSeconds);
      rounds.push(x);
      log(
        `    round ${r + 1}: ${x.events} events, ${x.delivered}/${x.expected} deliveries, p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms, ` +
          `max ${x.max.toFixed(0)} ms; ${x.appends} appends (${x.meanBatch.toFixed(1)} events each), answered p50 ${x.appendP50.toFixed(1)} ms, p99 ${x.appendP99.toFixed(1)} ms; ` +
          `peak RSS ${x.peakRssMB.toFixed(0)} MB, CPU: server ${x.serverCpu.toFixed(2)}, subscribers ${x.subscriberCpu.toFixed(2)}`,
      );
    }
    const p50 = aggregate(rounds.map((r) => r.p50));
    const p99 = aggregate(rounds.map((r) => r.p99));
    const rss = aggregate(rounds.map((r) => r.peakRssMB));
    const deliveredRatio = aggregate(rounds.map((r) => r.delivered / r.expected));
    const allDelivered = rounds.every((r) => r.delivered === r.expected);
    return {
      rows: [
        { measure: `delivery p50 (${settings.subscribers} subscribers)`, unit: 'ms', ...p50 },
        { measure: `delivery p99 (${settings.subscribers} subscribers)`, unit: 'ms', ...p99, target: '< 100 ms', met: p99.median < 100 && allDelivered },
        { measure: 'server peak RSS', unit: 'MB', ...rss, target: '< 400 MB', met: rss.median < 400 },
        { measure: 'events delivered', unit: '%', ...deliveredRatio },
      ],
      details: {
        subscribers: settings.subscribers,
        subscriberProcesses: settings.subscriberProcesses,
        eventsPerSecond: settings.eventsPerSecond,
        eventSeconds: settings.eventSeconds,
        idleRssMB: idleRss / MB,
        connectedRssMB: connectedRss / MB,
        rounds,
        serverErrors: server.errors().length,
      },
    };
  } finally {
    for (const c of children) if (c.child.connected) c.child.send({ cmd: 'close' });
    await Promise.all(children.map((c) => (c.child.exitCode === null ? new Promise((r) => c.child.once('exit', r)) : undefined)));
    await server.stop();
  }
}
