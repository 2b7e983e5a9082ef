// Small statistics helpers shared by the scenarios.

/** The median (the mean of the two middle values for an even count). */
export function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** (max - min) / median: how far apart the rounds were, relative to the reported value. */
export function spread(xs) {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / Math.abs(m);
}

/** Nearest-rank percentile of an ascending-sorted array (or typed array); p in [0, 100]. */
export function percentileSorted(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** p50, p90, p99 and max of a list of samples (not modified). */
export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

/** Median, spread and the per-round values of one measure. */
export const aggregate = (rounds) => ({ median: median(rounds), spread: spread(rounds), rounds });

/**
 * Rounds of `count` sequential samples of `once()` (which gives `{ fromAnswer, fromSend }`, in ms),
 * each round summarised and logged; `note(fromAnswer)` may add to a round's line and record.
 */
export async function latencyRounds({ rounds, count, once, log, note = () => ({}) }) {
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const fromAnswer = [];
    const fromSend = [];
    for (let i = 0; i < count; i++) {
      const d = await once();
      fromAnswer.push(d.fromAnswer);
      fromSend.push(d.fromSend);
    }
    const s = summarize(fromAnswer);
    const { line = '', ...extra } = note(fromAnswer);
    results.push({ ...s, fromSend: summarize(fromSend), ...extra });
    log(`    round ${r + 1}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms${line}`);
  }
  return { rounds: results, p50: aggregate(results.map((r) => r.p50)), p99: aggregate(results.map((r) => r.p99)) };
}
