import type { components } from '../../generated/openapi.js';

export type BudgetWindow = components['schemas']['BudgetWindow'];

/** A budget's window at a time: its key (`2026-12-06`, `2026-12`, `total`) and its bounds (none for `total`). */
export type WindowSpan = { key: string; start: string | null; end: string | null };

/** The UTC day or calendar month `at` falls in; `total` never ends. */
export function windowAt(window: BudgetWindow, at: Date): WindowSpan {
  if (window === 'total') return { key: 'total', start: null, end: null };
  const [y, m, d] = [at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()];
  const start = window === 'day' ? new Date(Date.UTC(y, m, d)) : new Date(Date.UTC(y, m, 1));
  const end = window === 'day' ? new Date(Date.UTC(y, m, d + 1)) : new Date(Date.UTC(y, m + 1, 1));
  const iso = start.toISOString();
  return { key: window === 'day' ? iso.slice(0, 10) : iso.slice(0, 7), start: iso, end: end.toISOString() };
}
