/**
 * Reads environment variables, each by its rule, and keeps one line per variable that breaks it,
 * so that a start refused for its configuration names every mistake at once. An empty variable is
 * not set (deployment templates often leave them empty). Values are never repeated in a message:
 * some are keys.
 */
export class EnvironmentReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  private value(name: string): string | undefined {
    const value = this.env[name];
    return value === '' ? undefined : value;
  }

  /** Records the problem and goes on with `fallback`, so that every variable is read. */
  private refuse<T>(name: string, message: string, fallback: T): T {
    this.problems.push(`  ${name}: ${message}`);
    return fallback;
  }

  /** A decimal number within [min, max]; an integer unless `fraction`. */
  number(name: string, rule: { min: number; max: number; fallback: number; fraction?: boolean }): number {
    const raw = this.value(name);
    if (raw === undefined) return rule.fallback;
    const n = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
    const kind = rule.fraction ? 'a number' : 'an integer';
    if (!Number.isFinite(n) || (!rule.fraction && !Number.isInteger(n)) || n < rule.min || n > rule.max) {
      return this.refuse(name, `must be ${kind} from ${rule.min} to ${rule.max}`, rule.fallback);
    }
    return n;
  }

  /** One of `values`; `fallback` when not set. */
  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T;
  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined;
  oneOf<T extends string>(name: string, values: readonly T[], fallback?: T): T | undefined {
    const raw = this.value(name);
    if (raw === undefined) return fallback;
    if ((values as readonly string[]).includes(raw)) return raw as T;
    return this.refuse(name, `must be one of: ${values.join(', ')}`, fallback);
  }

  /** `true` or `false`, false when not set. */
  flag(name: string): boolean {
    return this.oneOf(name, ['true', 'false'], 'false') === 'true';
  }

  /** Text that `accepts`, at most `max` characters; `message` says what it must be. */
  text(name: string, rule: { accepts: (value: string) => boolean; message: string; max?: number }): string | undefined;
  text(name: string, rule: { accepts?: (value: string) => boolean; message?: string; max?: number; fallback: string }): string;
  text(name: string, rule: { accepts?: (value: string) => boolean; message?: string; max?: number; fallback?: string }): string | undefined {
    const raw = this.value(name);
    if (raw === undefined) return rule.fallback;
    if (rule.max !== undefined && raw.length > rule.max) return this.refuse(name, `must be at most ${rule.max} characters`, rule.fallback);
    if (rule.accepts && !rule.accepts(raw)) return this.refuse(name, rule.message ?? 'is invalid', rule.fallback);
    return raw;
  }
}
