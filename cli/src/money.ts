import { InvalidArgumentError } from 'commander';

/** The API counts money in integer micro-USD: 1 USD = 1,000,000. */
const MICROS_PER_USD = 1_000_000n;
const MAX_MICROS = BigInt(Number.MAX_SAFE_INTEGER);

/** A count with thousands separators, for people: 10482000 is `10,482,000`. */
export const count = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * Micro-USD as dollars, for people, exactly (integer arithmetic, no rounding): at least two
 * decimals, and as many more as it takes not to hide a cheap call: 41200000 is `$41.20`, 366 is
 * `$0.000366`, 48210500 is `$48.2105`.
 */
export function usd(micros: number): string {
  const m = BigInt(micros);
  const sign = m < 0n ? '-' : '';
  const abs = m < 0n ? -m : m;
  const cents = (abs % MICROS_PER_USD)
    .toString()
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}$${count(Number(abs / MICROS_PER_USD))}.${cents}`;
}

/**
 * What a sum of usage cost, never hiding the usage without a price: `$7.0105`; `$7.0105 + 3
 * unpriced` when some requests have no known cost; `unknown (3 unpriced)` when none has one.
 */
export function costText(s: { costMicros: number; requests: number; unpricedRequests: number }): string {
  if (s.unpricedRequests === 0) return usd(s.costMicros);
  if (s.unpricedRequests >= s.requests && s.costMicros === 0) return `unknown (${count(s.unpricedRequests)} unpriced)`;
  return `${usd(s.costMicros)} + ${count(s.unpricedRequests)} unpriced`;
}

/**
 * A USD amount given by a person (`50`, `0.5`, `$12.25`, `.000366`) in micro-USD, parsed as a
 * decimal string (never through floating point): at most 6 decimals, never negative.
 */
export function parseUsd(value: string): number {
  const s = value.trim().replace(/^\$/, '');
  if (s.startsWith('-')) throw new InvalidArgumentError('must not be negative');
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || !`${m[1]}${m[2] ?? ''}`) throw new InvalidArgumentError('must be an amount in USD, such as 50, 0.5 or 0.000366');
  const decimals = m[2] ?? '';
  if (decimals.length > 6) throw new InvalidArgumentError(`has ${decimals.length} decimals: amounts are counted in micro-USD, 6 decimals at most (0.000001)`);
  const micros = BigInt(m[1] || '0') * MICROS_PER_USD + BigInt(decimals.padEnd(6, '0'));
  if (micros > MAX_MICROS) throw new InvalidArgumentError(`must be at most ${usd(Number.MAX_SAFE_INTEGER)}`);
  return Number(micros);
}

/** Commander parser of a positive USD amount (`--amount`), in micro-USD. */
export const positiveUsd = (value: string): number => {
  const micros = parseUsd(value);
  if (micros === 0) throw new InvalidArgumentError('must be more than 0');
  return micros;
};
