// 15. metrics-cost: what collecting Prometheus metrics costs a request. In process: the recorder the
// request pipeline calls once per request (a counter and a histogram, both labelled by operation,
// method and status), timed over many calls. End to end: scenario 2 (get-agent) on a server with
// METRICS_TOKEN (metrics collected) against one without (nothing collected), side by side in
// alternating rounds, as validation-cost does.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { alternatingGetAgent, costRow, startLoadClient } from '../lib/load.mjs';
import { SERVER_ENTRY, startSwitchboard } from '../lib/processes.mjs';
import { aggregate } from '../lib/stats.mjs';

export const name = 'metrics-cost';
export const description = 'the per-request metrics recorder in process, and get-agent with metrics on vs off, alternating rounds';

// The server's own copy of prom-client and its built metrics module (the package exports neither).
const serverRequire = createRequire(SERVER_ENTRY);
const METRICS_MODULE = pathToFileURL(join(dirname(SERVER_ENTRY), 'observability', 'metrics.js')).href;
const TOKEN = 'bench-metrics-token-0123456789abcdef0123456789';

/** CPU nanoseconds per recorded request, over `calls` calls spread over a few label sets (as a busy server sees them). */
async function recorderNanoseconds(calls) {
  const { Registry } = serverRequire('prom-client');
  const { createMetrics } = await import(METRICS_MODULE);
  const none = async () => ({ queued: 0, running: 0, waiting: 0, oldestQueuedAt: null });
  const metrics = createMetrics(new Registry(), {
    activeRuns: none,
    pool: () => ({ used: 0, free: 0, pendingAcquires: 0, pendingCreates: 0, max: 0 }),
    sseConnections: () => 0,
  });
  const labels = [
    ['getAgent', 'GET', 200],
    ['listAgents', 'GET', 200],
    ['createRun', 'POST', 201],
    ['getAgent', 'GET', 404],
  ];
  const record = (i) => {
    const [op, method, status] = labels[i % labels.length];
    metrics.http.request(op, method, status, 0.0012);
  };
  for (let i = 0; i < calls / 10; i++) record(i);
  // CPU time, not wall time: on a shared machine the wall clock also counts other processes' turns.
  const started = process.cpuUsage();
  for (let i = 0; i < calls; i++) record(i);
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1000) / calls;
}

export async function run({ settings, log }) {
  const perCall = [];
  for (let i = 0; i < settings.rounds; i++) perCall.push(await recorderNanoseconds(settings.metricsCalls));
  const recorder = aggregate(perCall);
  log(`    recorder: ${recorder.median.toFixed(0)} ns per request`);

  const servers = { on: await startSwitchboard({ env: { METRICS_TOKEN: TOKEN } }), off: await startSwitchboard() };
  const client = await startLoadClient();
  try {
    const { on, off, cost } = await alternatingGetAgent({ servers, client, settings, log, feature: 'metrics' });
    // The metrics were really collected: the server with them counted the measured requests.
    const scraped = await fetch(`${servers.on.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
    if (!/switchboard_http_requests_total\{operation_id="getAgent",method="GET",status="200"\} [1-9]/.test(scraped))
      throw new Error('the server with metrics counted no getAgent');
    return {
      rows: [
        { measure: 'recorder per request (in process, CPU time)', unit: 'ns', ...recorder, target: '<= 2000 ns', met: recorder.median <= 2000 },
        { measure: 'throughput, metrics off', unit: 'req/s', ...off.rps },
        { measure: 'throughput, metrics on', unit: 'req/s', ...on.rps },
        costRow(cost, 0.05),
      ],
      details: { recorder, on, off, cost, serverErrors: servers.on.errors().length + servers.off.errors().length },
    };
  } finally {
    await client.stop();
    await servers.on.stop();
    await servers.off.stop();
  }
}
