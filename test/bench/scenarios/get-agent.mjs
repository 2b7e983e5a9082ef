// 2. get-agent: GET /api/v1/agents/{id} on the real server, 50 connections, with the key.
import { AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { measureLoad, startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';

export const name = 'get-agent';
export const needs = ['baseline'];
export const description = 'GET /api/v1/agents/{id} on the real server (SQLite, production mode), with an Authorization header';

async function measure({ settings, log }) {
  const server = await startSwitchboard();
  const client = await startLoadClient();
  try {
    const agent = await apiClient(server.url, server.key).create('/api/v1/agents', AGENT_BODY);
    const rounds = await measureLoad(
      client,
      settings,
      { url: `${server.url}/api/v1/agents/${agent.id}`, connections: settings.connections, headers: { Authorization: `Bearer ${server.key}` } },
      server.pid,
      log,
    );
    const errors = server.errors();
    if (errors.length) log(`  WARNING: the server logged ${errors.length} errors, e.g. ${errors[0].slice(0, 300)}`);
    return { summary: summarizeRounds(rounds), serverErrors: errors.length };
  } finally {
    await client.stop();
    await server.stop();
  }
}

export async function run(ctx) {
  const { summary, serverErrors } = await measure(ctx);
  const koa = ctx.results.get('baseline')?.koaRps;
  const ratio = koa ? summary.rps.median / koa : NaN;
  return {
    rows: [
      { measure: 'throughput', unit: 'req/s', ...summary.rps, target: '>= 0.5 x bare Koa', met: koa ? ratio >= 0.5 : null },
      { measure: 'relative to bare Koa', unit: 'ratio', median: ratio },
      { measure: 'p99 latency', unit: 'ms', ...summary.p99, target: '< 10 ms', met: summary.p99.median < 10 },
    ],
    details: { connections: ctx.settings.connections, ...summary, serverErrors },
    rps: summary.rps.median,
  };
}
