// 4. create-run: POST /api/v1/runs with a fresh Idempotency-Key per request, on SQLite, and on
// PostgreSQL (+ Redis when REDIS_URL is set) when DATABASE_URL names a PostgreSQL server.
// The runs pile up queued: the server has no queued-run limit (maxConcurrentRuns bounds running
// runs only, at claim time), and each run's TTL (1 h by default) outlasts the bench.
import { postgresBaseUrl, postgresDatabase } from '../lib/databases.mjs';
import { RUN_AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { measureLoad, startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';

export const name = 'create-run';
export const description = 'POST /api/v1/runs {"agentId"} with a unique Idempotency-Key per request, 50 connections';

async function measure({ settings, log }, database, env) {
  const server = await startSwitchboard({ database, env });
  const client = await startLoadClient();
  try {
    const agent = await apiClient(server.url, server.key).create('/api/v1/agents', RUN_AGENT_BODY);
    const rounds = await measureLoad(
      client,
      settings,
      {
        url: `${server.url}/api/v1/runs`,
        method: 'POST',
        connections: settings.connections,
        headers: { Authorization: `Bearer ${server.key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ agentId: agent.id }),
        uniqueIdempotencyKey: true,
      },
      server.pid,
      log,
    );
    return { ...summarizeRounds(rounds), serverErrors: server.errors().length };
  } finally {
    await client.stop();
    await server.stop();
  }
}

export async function run(ctx) {
  ctx.log('  SQLite:');
  const sqlite = await measure(ctx);
  const rows = [
    { measure: 'SQLite throughput', unit: 'runs/s', ...sqlite.rps, target: '>= 2,000/s', met: sqlite.rps.median >= 2000 },
    { measure: 'SQLite p99 latency', unit: 'ms', ...sqlite.p99 },
  ];
  let postgres;
  if (postgresBaseUrl()) {
    const redis = process.env.REDIS_URL;
    ctx.log(`  PostgreSQL${redis ? ' + Redis' : ''}:`);
    postgres = await measure(ctx, await postgresDatabase(), redis ? { REDIS_URL: redis } : {});
    postgres.redis = Boolean(redis);
    rows.push(
      { measure: `PostgreSQL${redis ? ' + Redis' : ''} throughput`, unit: 'runs/s', ...postgres.rps, target: '>= 1,500/s', met: postgres.rps.median >= 1500 },
      { measure: 'PostgreSQL p99 latency', unit: 'ms', ...postgres.p99 },
    );
  } else {
    rows.push({ measure: 'PostgreSQL throughput (DATABASE_URL not set)', unit: 'runs/s', median: NaN, target: '>= 1,500/s', met: null });
  }
  return { rows, details: { connections: ctx.settings.connections, sqlite, postgres } };
}
