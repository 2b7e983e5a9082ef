/** Human and machine output: aligned tables, key: value blocks, pretty JSON; colours only on a TTY. */

export type Column<T> = { header: string; value: (item: T) => unknown; status?: boolean };

type Stream = { write(chunk: string): unknown; isTTY?: boolean };

const GOOD = new Set(['active', 'succeeded', 'ok', 'done']);
const BAD = new Set(['failed', 'cancelled', 'timed_out', 'expired', 'revoked', 'retired', 'error', 'blocked', 'exhausted']);
const PENDING = new Set(['queued', 'running', 'waiting', 'paused', 'warn', 'warning', 'in_progress', 'in_review', 'needs_reauth']);

/** `2025-01-31T12:00:00.000Z` as `2025-01-31 12:00:00` (UTC); anything else unchanged. */
export const shortTime = (value: unknown): string => {
  if (typeof value !== 'string') return text(value);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(value);
  return m ? `${m[1]} ${m[2]}` : value;
};

/** What JSON holds besides objects and arrays (undefined: a field that is absent). */
type Scalar = string | number | boolean | null | undefined;
const isScalar = (value: unknown): value is Scalar => typeof value !== 'object' || value === null;

/** A cell or value as text: `-` for nothing, lists joined with commas, objects as compact JSON. */
export function text(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) {
    if (value.length === 0) return '-';
    if (value.every(isScalar)) return value.map(String).join(', ');
  }
  return isScalar(value) ? String(value) : JSON.stringify(value);
}

export class Output {
  constructor(
    /** `--json`: print what the API returned, one JSON document, and nothing else on stdout. */
    readonly json: boolean,
    private readonly colorWanted: boolean,
    readonly stdout: Stream = process.stdout,
    readonly stderr: Stream = process.stderr,
  ) {}

  private get color() {
    return this.colorWanted && Boolean(this.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  }

  private paint(code: string, s: string) {
    return this.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  bold = (s: string) => this.paint('1', s);
  dim = (s: string) => this.paint('2', s);

  /** A status word in green, red or yellow. */
  status = (s: string) => {
    const key = s.trim();
    if (GOOD.has(key)) return this.paint('32', s);
    if (BAD.has(key)) return this.paint('31', s);
    if (PENDING.has(key)) return this.paint('33', s);
    return s;
  };

  /** A line on stdout. */
  print(line = '') {
    this.stdout.write(`${line}\n`);
  }

  /** A line on stderr: hints and progress, kept out of what scripts read. */
  note(line: string) {
    this.stderr.write(`${line}\n`);
  }

  /** Pretty JSON on stdout. */
  data(value: unknown) {
    this.print(JSON.stringify(value, null, 2));
  }

  /** An aligned table with a header row. */
  table<T>(items: readonly T[], columns: Column<T>[]) {
    const rows = items.map((item) => columns.map((c) => text(c.value(item)).replace(/\s+/g, ' ')));
    const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[], style: (cell: string, i: number) => string) =>
      cells
        .map((cell, i) => style(i === cells.length - 1 ? cell : cell.padEnd(widths[i]!), i))
        .join('  ')
        .trimEnd();
    this.print(
      line(
        columns.map((c) => c.header),
        (cell) => this.bold(cell),
      ),
    );
    for (const row of rows) this.print(line(row, (cell, i) => (columns[i]!.status ? this.status(cell) : cell)));
  }

  /** A `key: value` block, keys aligned; nested values as indented JSON. */
  object(value: object, options: { omit?: string[]; status?: string[] } = {}) {
    const entries = Object.entries(value).filter(([k]) => !options.omit?.includes(k));
    const width = Math.max(0, ...entries.map(([k]) => k.length)) + 1;
    for (const [key, v] of entries) {
      let shown = text(v);
      if (typeof v === 'object' && v !== null && shown.length > 60) shown = JSON.stringify(v, null, 2);
      const [first, ...rest] = shown.split('\n');
      const styled = (options.status ?? ['status']).includes(key) ? this.status(first!) : first!;
      this.print(`${this.bold(`${key}:`.padEnd(width))} ${styled}`);
      for (const more of rest) this.print(`${' '.repeat(width + 1)}${more}`);
    }
  }
}
