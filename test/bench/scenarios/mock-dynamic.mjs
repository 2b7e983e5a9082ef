// 10. mock-dynamic: Prism's mock generating a response from the schemas (`Prefer: dynamic=true`)
// for every GET operation of the spec, one call at a time; per round each operation is called
// once. Unbounded free-form schemas made one such call take 37-57 s (issue 12).
import { getOperations, MOCK_KEY, startPrismMock } from '../lib/prism.mjs';
import { aggregate, median } from '../lib/stats.mjs';

export const name = 'mock-dynamic';
export const description = 'prism mock, Prefer: dynamic=true, every GET operation once per round (sequential)';

const TIMEOUT_MS = 120_000;

async function timedCall(url) {
  const started = performance.now();
  // A browser route's answer is a redirect (the connect link's, to a provider): it is the answer, never followed off this machine.
  const res = await fetch(url, {
    headers: { Authorization: `Bearer ${MOCK_KEY}`, Prefer: 'dynamic=true' },
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  await res.arrayBuffer();
  const ms = performance.now() - started;
  if (!res.ok && !(res.status >= 300 && res.status < 400)) throw new Error(`${url}: ${res.status}`);
  return ms;
}

export async function run({ settings, log }) {
  const operations = getOperations();
  const mock = await startPrismMock();
  try {
    // Warm-up: Prism compiles its validators on first use of each operation.
    for (const op of operations) await timedCall(`${mock.url}${op.path}`);
    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const times = {};
      for (const op of operations) times[op.operationId] = await timedCall(`${mock.url}${op.path}`);
      const slowest = Object.entries(times).sort((a, b) => b[1] - a[1])[0];
      const round = { median: median(Object.values(times)), max: slowest[1], slowest: slowest[0], times };
      log(`    round ${r + 1}: ${operations.length} operations, median ${round.median.toFixed(1)} ms, slowest ${round.slowest} ${round.max.toFixed(1)} ms`);
      rounds.push(round);
    }
    const med = aggregate(rounds.map((r) => r.median));
    const max = aggregate(rounds.map((r) => r.max));
    return {
      rows: [
        { measure: 'dynamic GET, median operation', unit: 'ms', ...med },
        { measure: 'dynamic GET, slowest operation', unit: 'ms', ...max, target: '< 1,000 ms', met: max.median < 1000 },
      ],
      details: { operations: operations.length, rounds },
    };
  } finally {
    await mock.stop();
  }
}
