// 1. baseline: bare Koa + @koa/router, and bare node:http (the practical ceiling), each in its own
// process, answering GET /api/v1/agents/:id with a real agent's JSON.
import { AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { measureLoad, startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { startBaseline, startSwitchboard } from '../lib/processes.mjs';

export const name = 'baseline';
export const description = 'GET /api/v1/agents/:id on a bare Koa + @koa/router app and on a bare node:http server, with a real agent JSON';

/** A real agent as the real server serialises it: created and fetched once. */
async function realAgent() {
  const server = await startSwitchboard();
  try {
    const api = apiClient(server.url, server.key);
    const created = await api.create('/api/v1/agents', AGENT_BODY);
    return await api.get(`/api/v1/agents/${created.id}`);
  } finally {
    await server.stop();
  }
}

export async function run({ settings, log }) {
  const agent = await realAgent();
  const bytes = Buffer.byteLength(JSON.stringify(agent));
  log(`  agent JSON: ${bytes} bytes`);
  const client = await startLoadClient();
  const measured = {};
  try {
    for (const kind of ['koa', 'http']) {
      const server = await startBaseline(kind, agent);
      try {
        log(`  ${kind}:`);
        const rounds = await measureLoad(
          client,
          settings,
          { url: `${server.url}/api/v1/agents/${agent.id}`, connections: settings.connections, headers: { Authorization: 'Bearer sbk_bench' } },
          server.pid,
          log,
        );
        measured[kind] = summarizeRounds(rounds);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await client.stop();
  }
  return {
    rows: [
      { measure: 'bare Koa + @koa/router', unit: 'req/s', ...measured.koa.rps },
      { measure: 'bare Koa p99 latency', unit: 'ms', ...measured.koa.p99 },
      { measure: 'bare node:http (ceiling)', unit: 'req/s', ...measured.http.rps },
      { measure: 'bare node:http p99 latency', unit: 'ms', ...measured.http.p99 },
    ],
    details: { agentBytes: bytes, connections: settings.connections, koa: measured.koa, http: measured.http },
    koaRps: measured.koa.rps.median,
  };
}
