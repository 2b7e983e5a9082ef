/**
 * Samples of the Prometheus text format, by series (`name{label="value",...}`, labels sorted), for
 * exact assertions. Only what the server writes is read: one sample per line, no timestamps, label
 * values with no escaped quotes.
 */
export type Samples = Map<string, number>;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const seriesKey = (name: string, labels: Record<string, string>) => {
  const pairs = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return pairs.length ? `${name}{${pairs.map(([k, v]) => `${k}="${v}"`).join(',')}}` : name;
};

export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1]!, l[2]!]));
    samples.set(seriesKey(m[1]!, labels), Number(m[3]));
  }
  return samples;
}

/** A series' value; a counter never incremented has no series yet, which counts as 0. */
export const sample = (samples: Samples, name: string, labels: Record<string, string> = {}) => samples.get(seriesKey(name, labels)) ?? 0;

/** Whether a series exists at all (gauges are written even at 0). */
export const hasSeries = (samples: Samples, name: string, labels: Record<string, string> = {}) => samples.has(seriesKey(name, labels));
