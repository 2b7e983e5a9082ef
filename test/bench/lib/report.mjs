// The results table on stdout and the JSON file in bench/results/.
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const pct = (x) => `${(x * 100).toFixed(1)} %`;

/** How a measured value is shown, by unit. */
export function formatValue(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  switch (unit) {
    case 'req/s':
    case 'runs/s':
    case 'docs/s':
    case 'chunks/s':
    case 'ns':
      return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
    case 'ms':
      return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
    case 'MB':
      return `${value.toFixed(1)} MB`;
    case 'ratio':
      return `${value.toFixed(2)} x`;
    case '%':
      return pct(value);
    default:
      return `${value} ${unit ?? ''}`.trim();
  }
}

const met = (row) => (row.met === undefined ? '' : row.met === null ? 'n/a' : row.met ? 'met' : 'NOT met');

/** One line per measure: scenario | measure | median | spread | target | met (spread: (max - min) / median, or a range). */
export function renderTable(results) {
  const lines = [['scenario', 'measure', 'median', 'spread', 'target', 'met']];
  for (const r of results) {
    for (const row of r.rows) {
      lines.push([
        r.scenario,
        row.measure,
        formatValue(row.median, row.unit),
        row.spreadText ?? (row.spread === undefined ? '' : pct(row.spread)),
        row.target ?? '',
        met(row),
      ]);
    }
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

export function machine() {
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model, node: process.version, platform: `${process.platform} ${process.arch}` };
}

/** Writes results/<smoke|latest>.json, and for a full run also a dated copy. */
export function writeResults(dir, { smoke, settings, results, startedAt, seconds }) {
  mkdirSync(dir, { recursive: true });
  const doc = { at: startedAt, seconds, smoke, machine: machine(), settings, results };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const files = [join(dir, smoke ? 'smoke.json' : 'latest.json')];
  if (!smoke) files.push(join(dir, `${startedAt.replace(/[:.]/g, '-')}.json`));
  for (const f of files) writeFileSync(f, text);
  return files;
}
