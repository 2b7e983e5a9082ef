// 9. sdk-overhead: getAgent through the SDK and through a bare fetch with the same Authorization
// header, paired call by call (even i: bare then SDK; odd i: SDK then bare), each call timed with
// performance.now(); overhead = median SDK latency / median bare latency - 1.
import { Switchboard } from '@switchboard/sdk';
import { AGENT_BODY } from '../lib/fixtures.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { aggregate, median } from '../lib/stats.mjs';

export const name = 'sdk-overhead';
export const description = 'sequential getAgent calls, SDK vs bare fetch, alternating per call; overhead of the medians';

export async function run({ settings, log }) {
  const server = await startSwitchboard();
  try {
    const sb = new Switchboard({ baseUrl: server.url, apiKey: server.key });
    const agent = await sb.agents.create(AGENT_BODY);
    const url = `${server.url}/api/v1/agents/${agent.id}`;
    const headers = { Authorization: `Bearer ${server.key}` };
    const bare = async () => {
      const res = await fetch(url, { headers });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await res.json();
    };
    const viaSdk = () => sb.agents.get(agent.id);
    const timed = async (call) => {
      const t = performance.now();
      await call();
      return performance.now() - t;
    };
    /** `pairs` pairs of calls; returns each side's latencies. */
    const pairs = async (count) => {
      const bareMs = new Float64Array(count);
      const sdkMs = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        if (i % 2 === 0) {
          bareMs[i] = await timed(bare);
          sdkMs[i] = await timed(viaSdk);
        } else {
          sdkMs[i] = await timed(viaSdk);
          bareMs[i] = await timed(bare);
        }
      }
      return { bare: median(Array.from(bareMs)), sdk: median(Array.from(sdkMs)) };
    };

    await pairs(settings.sdkWarmup);
    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const m = await pairs(settings.sdkCalls);
      const overhead = m.sdk / m.bare - 1;
      rounds.push({ bareMs: m.bare, sdkMs: m.sdk, overhead });
      log(`    round ${r + 1}: bare ${m.bare.toFixed(3)} ms, SDK ${m.sdk.toFixed(3)} ms, overhead ${(overhead * 100).toFixed(1)} %`);
    }
    const bareMs = aggregate(rounds.map((r) => r.bareMs));
    const sdkMs = aggregate(rounds.map((r) => r.sdkMs));
    const overhead = aggregate(rounds.map((r) => r.overhead));
    return {
      rows: [
        { measure: 'bare fetch median latency', unit: 'ms', ...bareMs },
        { measure: 'SDK median latency', unit: 'ms', ...sdkMs },
        {
          measure: 'SDK overhead',
          unit: '%',
          median: overhead.median,
          spreadText: `${(Math.min(...overhead.rounds) * 100).toFixed(1)}..${(Math.max(...overhead.rounds) * 100).toFixed(1)} %`,
          target: '< 10 %',
          met: overhead.median < 0.1,
        },
      ],
      details: { callsEachWay: settings.sdkCalls, warmupPairs: settings.sdkWarmup, rounds },
    };
  } finally {
    await server.stop();
  }
}
