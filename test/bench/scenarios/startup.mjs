// 8. startup: time from spawning the server to /readyz answering 200 (polled every 10 ms), on a
// fresh SQLite database each time (so migrations and the bootstrap are included), and its RSS once idle.
import { startSwitchboard } from '../lib/processes.mjs';
import { aggregate, median } from '../lib/stats.mjs';

export const name = 'startup';
export const description = 'spawn -> /readyz 200 (10 ms polling) on a fresh SQLite database; idle RSS 1 s after ready';

const MB = 1024 * 1024;

async function startOnce(settleMs) {
  const server = await startSwitchboard({ pollMs: 10 });
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    return { readyMs: server.readyMs, rssMB: server.rss() / MB };
  } finally {
    await server.stop();
  }
}

export async function run({ settings, log }) {
  for (let i = 0; i < settings.startupWarmup; i++) await startOnce(settings.idleSettleMs);
  const rounds = [];
  for (let r = 0; r < settings.rounds; r++) {
    const starts = [];
    for (let i = 0; i < settings.starts; i++) starts.push(await startOnce(settings.idleSettleMs));
    const round = { readyMs: median(starts.map((s) => s.readyMs)), rssMB: median(starts.map((s) => s.rssMB)), starts };
    log(`    round ${r + 1}: ready in ${round.readyMs.toFixed(0)} ms, idle RSS ${round.rssMB.toFixed(1)} MB (median of ${starts.length} starts)`);
    rounds.push(round);
  }
  const ready = aggregate(rounds.map((r) => r.readyMs));
  const rss = aggregate(rounds.map((r) => r.rssMB));
  return {
    rows: [
      { measure: 'spawn -> ready', unit: 'ms', ...ready, target: '< 1,500 ms', met: ready.median < 1500 },
      { measure: 'idle RSS', unit: 'MB', ...rss, target: '< 120 MB', met: rss.median < 120 },
    ],
    details: { startsPerRound: settings.starts, idleSettleMs: settings.idleSettleMs, rounds },
  };
}
