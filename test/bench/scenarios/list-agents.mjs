// 3. list-agents: GET /api/v1/agents?pageSize=20 over 1,000 agents created through the API.
import { AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { measureLoad, startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';

export const name = 'list-agents';
export const needs = ['baseline'];
export const description = 'GET /api/v1/agents?pageSize=20 (first page) over 1,000 agents';

export async function run({ settings, results, log }) {
  const server = await startSwitchboard();
  const client = await startLoadClient();
  try {
    const api = apiClient(server.url, server.key);
    // Eight at a time: set-up, not measured.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < settings.listAgents) {
          const i = next++;
          await api.create('/api/v1/agents', { ...AGENT_BODY, name: `${AGENT_BODY.name} ${i}` });
        }
      }),
    );
    const page = await api.get('/api/v1/agents?pageSize=20');
    if (page.data.length !== Math.min(20, settings.listAgents)) throw new Error(`expected a full page, got ${page.data.length} agents`);
    log(`  ${settings.listAgents} agents created; a page is ${Buffer.byteLength(JSON.stringify(page))} bytes`);
    const rounds = await measureLoad(
      client,
      settings,
      { url: `${server.url}/api/v1/agents?pageSize=20`, connections: settings.connections, headers: { Authorization: `Bearer ${server.key}` } },
      server.pid,
      log,
    );
    const summary = summarizeRounds(rounds);
    const koa = results.get('baseline')?.koaRps;
    const ratio = koa ? summary.rps.median / koa : NaN;
    return {
      rows: [
        { measure: 'throughput', unit: 'req/s', ...summary.rps, target: '>= 0.3 x bare Koa', met: koa ? ratio >= 0.3 : null },
        { measure: 'relative to bare Koa', unit: 'ratio', median: ratio },
        { measure: 'p99 latency', unit: 'ms', ...summary.p99 },
      ],
      details: {
        agents: settings.listAgents,
        pageBytes: Buffer.byteLength(JSON.stringify(page)),
        connections: settings.connections,
        ...summary,
        serverErrors: server.errors().length,
      },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
