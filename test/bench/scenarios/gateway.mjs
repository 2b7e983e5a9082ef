// 11. gateway: streamed chat completions through the gateway against the same calls made directly
// to the test provider (its own process), paired call by call (even i: direct then gateway; odd i:
// the other way round). Two measures:
// - added latency: a provider that answers at once (64 tokens, no delays), sequential pairs; the
//   median total latency through the gateway minus the direct one, after 1,000 warm-up pairs (target < 2 ms);
// - time to first token: a provider whose first byte comes after 200 ms, as a fast hosted model's
//   does, 10 pairs in flight; the median time to the first content chunk through the gateway over
//   the direct one (target < +5 %);
// - budget reservation: the same gateway call by a key a budget covers (reserve before, settle
//   after) against one no budget covers, sequential pairs; the median difference (target < 1 ms).
import http from 'node:http';
import { apiClient, newAgent } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { startProvider } from '../lib/provider.mjs';
import { aggregate, median } from '../lib/stats.mjs';

export const name = 'gateway';
export const description = 'streamed chat completions via the gateway vs straight to the provider, paired; added latency and time to first token';

const FIRST_BYTE_MS = 200;

/** One streamed call; the time to the first chunk carrying text and to the end of the stream, in ms. */
function streamCall(url, headers, body, agent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstToken;
    const req = http.request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`HTTP ${res.statusCode} from ${url}`));
      }
      res.setEncoding('utf8');
      res.on('data', (text) => {
        if (firstToken === undefined && /"content":"[^"]/.test(text)) firstToken = performance.now() - t0;
      });
      res.on('end', () => resolve({ firstToken, total: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function run({ settings, smoke, log }) {
  const fast = await startProvider(['--tokens', '64']);
  const slow = await startProvider(['--tokens', '64', '--first-byte-ms', String(FIRST_BYTE_MS)]);
  const server = await startSwitchboard({ env: { MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true' } });
  try {
    const api = apiClient(server.url, server.key);
    for (const [alias, provider] of [
      ['bench-fast', fast],
      ['bench-slow', slow],
    ]) {
      const created = await api.create('/api/v1/model-providers', {
        name: alias,
        kind: 'openai-compatible',
        baseUrl: `${provider.url}/v1`,
        credential: 'sk-bench',
      });
      await api.create('/api/v1/models', {
        alias,
        providerId: created.id,
        upstreamModel: 'bench-model',
        pricing: { inputMicrosPerMillionTokens: 400000, outputMicrosPerMillionTokens: 1600000 },
      });
    }
    const agent = newAgent();
    const messages = [{ role: 'user', content: 'Count to sixty-four.' }];
    const direct = (provider) => () =>
      streamCall(
        `${provider.url}/v1/chat/completions`,
        { Authorization: 'Bearer sk-bench' },
        JSON.stringify({ model: 'bench-model', messages, stream: true }),
        agent,
      );
    const viaGateway =
      (alias, key = server.key) =>
      () =>
        streamCall(
          `${server.url}/api/v1/llm/openai/v1/chat/completions`,
          { Authorization: `Bearer ${key}` },
          JSON.stringify({ model: alias, messages, stream: true }),
          agent,
        );
    // A key under a budget that never runs out: every call reserves its estimate, then settles it.
    const budgeted = await api.create('/api/v1/api-keys', { name: 'bench-budgeted', scopes: ['read', 'write'] });
    await api.create('/api/v1/budgets', { name: 'bench', scope: { type: 'api_key', id: budgeted.id }, window: 'month', amountMicros: 9_000_000_000_000 });
    /** `count` pairs from each of `lanes` concurrent loops; each side's samples. */
    const pairs = async (count, lanes, a, b) => {
      const sides = { a: [], b: [] };
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          for (let i = 0; i < count; i++) {
            if (i % 2 === 0) {
              sides.a.push(await a());
              sides.b.push(await b());
            } else {
              sides.b.push(await b());
              sides.a.push(await a());
            }
          }
        }),
      );
      return sides;
    };
    const overheadPairs = smoke ? 20 : 500;
    const ttftPairs = smoke ? 1 : 10;
    // As sdk-overhead: 1,000 warm-up pairs, or the first rounds still measure the JIT warming up (round 1 +2.96 ms, round 3 +1.93 ms after 100).
    await pairs(smoke ? 5 : 1000, 1, direct(fast), viaGateway('bench-fast'));
    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const quick = await pairs(overheadPairs, 1, direct(fast), viaGateway('bench-fast'));
      const addedMs = median(quick.b.map((s) => s.total)) - median(quick.a.map((s) => s.total));
      const slowSides = await pairs(ttftPairs, 10, direct(slow), viaGateway('bench-slow'));
      const directTtft = median(slowSides.a.map((s) => s.firstToken));
      const gatewayTtft = median(slowSides.b.map((s) => s.firstToken));
      const budgetSides = await pairs(overheadPairs, 1, viaGateway('bench-fast'), viaGateway('bench-fast', budgeted.secret));
      const round = {
        budgetAddedMs: median(budgetSides.b.map((s) => s.total)) - median(budgetSides.a.map((s) => s.total)),
        directTotalMs: median(quick.a.map((s) => s.total)),
        gatewayTotalMs: median(quick.b.map((s) => s.total)),
        addedMs,
        directTtftMs: directTtft,
        gatewayTtftMs: gatewayTtft,
        ttftIncrease: gatewayTtft / directTtft - 1,
      };
      rounds.push(round);
      log(
        `    round ${r + 1}: 64-token stream direct ${round.directTotalMs.toFixed(2)} ms, via gateway ${round.gatewayTotalMs.toFixed(2)} ms (+${addedMs.toFixed(2)} ms); ` +
          `first token direct ${directTtft.toFixed(1)} ms, via gateway ${gatewayTtft.toFixed(1)} ms (+${(round.ttftIncrease * 100).toFixed(2)} %); ` +
          `under a budget +${round.budgetAddedMs.toFixed(2)} ms`,
      );
    }
    const added = aggregate(rounds.map((r) => r.addedMs));
    const ttft = aggregate(rounds.map((r) => r.ttftIncrease));
    const budget = aggregate(rounds.map((r) => r.budgetAddedMs));
    return {
      rows: [
        { measure: 'direct streamed call, median', unit: 'ms', ...aggregate(rounds.map((r) => r.directTotalMs)) },
        { measure: 'gateway streamed call, median', unit: 'ms', ...aggregate(rounds.map((r) => r.gatewayTotalMs)) },
        { measure: 'gateway added latency (p50)', unit: 'ms', ...added, target: '< 2 ms', met: added.median < 2 },
        { measure: 'budget reservation added per call (p50)', unit: 'ms', ...budget, target: '< 1 ms', met: budget.median < 1 },
        {
          measure: `time to first token added (${FIRST_BYTE_MS} ms provider)`,
          unit: '%',
          median: ttft.median,
          spreadText: `${(Math.min(...ttft.rounds) * 100).toFixed(2)}..${(Math.max(...ttft.rounds) * 100).toFixed(2)} %`,
          target: '< 5 %',
          met: ttft.median < 0.05,
        },
      ],
      details: { overheadPairsPerRound: overheadPairs, ttftPairsPerRound: ttftPairs * 10, providerFirstByteMs: FIRST_BYTE_MS, rounds },
    };
  } finally {
    await server.stop();
    await fast.stop();
    await slow.stop();
  }
}
