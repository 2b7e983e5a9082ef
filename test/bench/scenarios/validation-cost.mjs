// 7. validation-cost: scenario 2 (get-agent) with response validation off (RESPONSE_VALIDATION=off)
// against the production default (RESPONSE_VALIDATION unset = "log": every response is validated,
// a breach is logged). Both servers run side by side and their rounds alternate, so drift on the
// machine falls on both alike; the cost is also given against scenario 2's own figure.
import { alternatingGetAgent, costRow, startLoadClient } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';

export const name = 'validation-cost';
export const description = 'get-agent with RESPONSE_VALIDATION=off vs the production default (log), alternating rounds';

export async function run({ settings, results, log }) {
  const servers = { on: await startSwitchboard(), off: await startSwitchboard({ env: { RESPONSE_VALIDATION: 'off' } }) };
  const client = await startLoadClient();
  try {
    const { on, off, cost } = await alternatingGetAgent({ servers, client, settings, log, feature: 'validation' });
    const scenario2 = results.get('get-agent')?.rps;
    const costVsScenario2 = scenario2 ? 1 - scenario2 / off.rps.median : NaN;
    return {
      rows: [
        { measure: 'throughput, validation off', unit: 'req/s', ...off.rps },
        { measure: 'throughput, validation on (log)', unit: 'req/s', ...on.rps },
        costRow(cost, 0.15),
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
