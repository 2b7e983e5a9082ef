// 7. validation-cost: scenario 2 (get-agent) with response validation off (RESPONSE_VALIDATION=off)
// against the production default (RESPONSE_VALIDATION unset = "log": every response is validated,
// a breach is logged). Both servers run side by side and their rounds alternate, so drift on the
// machine falls on both alike; the cost is also given against scenario 2's own figure.
import { AGENT_BODY } from '../lib/fixtures.mjs';
import { apiClient } from '../lib/http.mjs';
import { startLoadClient, summarizeRounds } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { aggregate } from '../lib/stats.mjs';

export const name = 'validation-cost';
export const description = 'get-agent with RESPONSE_VALIDATION=off vs the production default (log), alternating rounds';

export async function run({ settings, results, log }) {
  const servers = { on: await startSwitchboard(), off: await startSwitchboard({ env: { RESPONSE_VALIDATION: 'off' } }) };
  const client = await startLoadClient();
  try {
    const targets = {};
    for (const [mode, server] of Object.entries(servers)) {
      const agent = await apiClient(server.url, server.key).create('/api/v1/agents', AGENT_BODY);
      targets[mode] = { url: `${server.url}/api/v1/agents/${agent.id}`, connections: settings.connections, headers: { Authorization: `Bearer ${server.key}` } };
      await client.run({ ...targets[mode], duration: settings.warmupSeconds }, server.pid);
    }
    const rounds = { on: [], off: [] };
    for (let i = 0; i < settings.rounds; i++) {
      // Alternate which goes first, so neither side always follows the other.
      for (const mode of i % 2 ? ['on', 'off'] : ['off', 'on']) {
        const r = await client.run({ ...targets[mode], duration: settings.roundSeconds }, servers[mode].pid);
        if (r.non2xx || r.errors || r.timeouts) throw new Error(`validation ${mode}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
        log(`    round ${i + 1}, validation ${mode}: ${Math.round(r.rps)} req/s, p99 ${r.latency.p99} ms`);
        rounds[mode].push(r);
      }
    }
    const on = summarizeRounds(rounds.on);
    const off = summarizeRounds(rounds.off);
    // Cost per round pair: the share of throughput validation takes away.
    const cost = aggregate(rounds.on.map((r, i) => 1 - r.rps / rounds.off[i].rps));
    const scenario2 = results.get('get-agent')?.rps;
    const costVsScenario2 = scenario2 ? 1 - scenario2 / off.rps.median : NaN;
    return {
      rows: [
        { measure: 'throughput, validation off', unit: 'req/s', ...off.rps },
        { measure: 'throughput, validation on (log)', unit: 'req/s', ...on.rps },
        {
          measure: 'cost (alternating rounds)',
          unit: '%',
          median: cost.median,
          spreadText: `${(Math.min(...cost.rounds) * 100).toFixed(1)}..${(Math.max(...cost.rounds) * 100).toFixed(1)} %`,
          target: '<= 15 %',
          met: cost.median <= 0.15,
        },
        { measure: 'cost vs scenario 2 (get-agent)', unit: '%', median: costVsScenario2 },
      ],
      details: { on, off, cost, costVsScenario2, serverErrors: servers.on.errors().length + servers.off.errors().length },
    };
  } finally {
    await client.stop();
    await servers.on.stop();
    await servers.off.stop();
  }
}
