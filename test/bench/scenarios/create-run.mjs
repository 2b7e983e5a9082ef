// 4. create-run: POST /api/v1/runs with a fresh Idempotency-Key per request, on SQLite, and on
// PostgreSQL (+ Redis when REDIS_URL is set) when DATABASE_URL names a PostgreSQL server. Both
// servers run side by side and their rounds alternate (SQLite, PostgreSQL, SQLite, ...), so the
// machine's drifts hit both alike: the PostgreSQL / SQLite ratio of each pair is the figure.
// The runs pile up queued: the server has no queued-run limit (maxConcurrentRuns bounds running
// runs only, at claim time), and each run's TTL (1 h by default) outlasts the bench.
import { postgresBaseUrl, postgresDatabase } from '../lib/databases.mjs';
import { RUN_AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { measureRound, startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { cpuSecondsOfCommand, startSwitchboard } from '../lib/processes.mjs';
import { aggregate } from '../lib/stats.mjs';

export const name = 'create-run';
export const description = 'POST /api/v1/runs {"agentId"} with a unique Idempotency-Key per request, 50 connections; SQLite and PostgreSQL alternated';

async function target(settings, database, env) {
  const server = await startSwitchboard({ database, env });
  let agent;
  try {
    agent = await apiClient(server.url, server.key).create('/api/v1/agents', RUN_AGENT_BODY);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const options = {
    url: `${server.url}/api/v1/runs`,
    method: 'POST',
    connections: settings.connections,
    headers: { Authorization: `Bearer ${server.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ agentId: agent.id }),
    uniqueIdempotencyKey: true,
  };
  return { server, options, rounds: [] };
}

export async function run({ settings, log }) {
  const redis = process.env.REDIS_URL;
  const pgLabel = `PostgreSQL${redis ? ' + Redis' : ''}`;
  const targets = [];
  let client;
  try {
    targets.push({ label: 'SQLite', ...(await target(settings)) });
    // One server process on each (WORKERS=1; production's default on PostgreSQL is one per core): the
    // ratio compares the two databases' paths, not process counts.
    if (postgresBaseUrl())
      targets.push({ label: pgLabel, ...(await target(settings, await postgresDatabase(), { WORKERS: '1', ...(redis ? { REDIS_URL: redis } : {}) })) });
    client = await startLoadClient();
    for (const t of targets) await measureRound(client, settings.warmupSeconds, t.options, t.server.pid, () => {}, `${t.label} warm-up`);
    for (let i = 0; i < settings.rounds; i++) {
      for (const t of targets) {
        // PostgreSQL's own processes' CPU during the round (zero for SQLite, which runs inside the server).
        const before = cpuSecondsOfCommand('postgres');
        const r = await measureRound(client, settings.roundSeconds, t.options, t.server.pid, log, `round ${i + 1}, ${t.label}`);
        r.databaseCpu = (cpuSecondsOfCommand('postgres') - before) / settings.roundSeconds;
        t.rounds.push(r);
      }
    }
  } finally {
    await client?.stop();
    for (const t of targets) await t.server.stop();
  }

  // CPU per run, in ms: the server's, and PostgreSQL's processes' (the two share the machine's cores).
  const perRun = (rounds, cores) => aggregate(rounds.map((r) => (cores(r) * 1000) / r.rps));
  const [sqlite, postgres] = targets.map((t) => ({
    ...summarizeRounds(t.rounds),
    serverCpuPerRun: perRun(t.rounds, (r) => r.serverCpu ?? NaN),
    databaseCpuPerRun: perRun(t.rounds, (r) => r.databaseCpu),
    serverErrors: t.server.errors().length,
  }));
  const rows = [
    { measure: 'SQLite throughput', unit: 'runs/s', ...sqlite.rps, target: '>= 2,000/s', met: sqlite.rps.median >= 2000 },
    { measure: 'SQLite p99 latency', unit: 'ms', ...sqlite.p99 },
    { measure: 'SQLite server CPU per run', unit: 'ms', ...sqlite.serverCpuPerRun },
  ];
  if (postgres) {
    const ratio = aggregate(targets[1].rounds.map((r, i) => r.rps / targets[0].rounds[i].rps));
    postgres.redis = Boolean(redis);
    postgres.ratio = ratio;
    rows.push(
      { measure: `${pgLabel} throughput`, unit: 'runs/s', ...postgres.rps, target: '>= 1,500/s', met: postgres.rps.median >= 1500 },
      { measure: `${pgLabel} p99 latency`, unit: 'ms', ...postgres.p99 },
      { measure: `${pgLabel} server CPU per run`, unit: 'ms', ...postgres.serverCpuPerRun },
      { measure: 'PostgreSQL processes CPU per run', unit: 'ms', ...postgres.databaseCpuPerRun },
      { measure: `${pgLabel} / SQLite, same rounds`, unit: 'ratio', ...ratio, target: '>= 0.8', met: ratio.median >= 0.8 },
    );
  } else {
    rows.push({ measure: 'PostgreSQL throughput (DATABASE_URL not set)', unit: 'runs/s', median: NaN, target: '>= 1,500/s', met: null });
  }
  return { rows, details: { connections: settings.connections, sqlite, postgres } };
}
