import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import type { Sealer } from '../../security/sealer.js';
import { decryptValue } from './envelope.js';

/** Shorter values are not redacted: they would replace ordinary words in what runs write. */
export const REDACTED_MIN_LENGTH = 8;
/** Leases whose released values are kept; a lease's deliveries never change once its claim committed. */
const CACHED_LEASES = 1000;

export type Redact = <T>(value: T) => T;

const unchanged: Redact = (value) => value;

/** The forms a value is written in: as is, inside a JSON string, URL-encoded, and in base64 (with and without padding, and URL-safe). */
function formsOf(value: string): string[] {
  const base64 = Buffer.from(value, 'utf8').toString('base64');
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    base64,
    base64.replace(/=+$/, ''),
    Buffer.from(value, 'utf8').toString('base64url'),
  ];
}

/** Replaces every form of each value, in every string and key of `value`, with `[secret:NAME]`; the longest forms first. */
export function redactorOf(released: { name: string; value: string }[]): Redact {
  const pairs = released
    .filter((r) => r.value.length >= REDACTED_MIN_LENGTH)
    .flatMap((r) => [...new Set(formsOf(r.value))].map((form) => ({ form, mark: `[secret:${r.name}]` })))
    .sort((a, b) => b.form.length - a.form.length);
  if (!pairs.length) return unchanged;
  const text = (s: string) => pairs.reduce((out, { form, mark }) => (out.includes(form) ? out.split(form).join(mark) : out), s);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && !Buffer.isBuffer(v)) return Object.fromEntries(Object.entries(v).map(([k, inner]) => [text(k), walk(inner)]));
    return v;
  };
  return walk as Redact;
}

type ReleasedRow = { name: string; secret_id: string; version: number; application_id: string; data_key_sealed: string; value_encrypted: string };

/**
 * What a run writes is redacted with the values released to it (by every claim of the run so far),
 * found by its lease: once per lease, as its deliveries are fixed when its claim commits.
 */
export function createRunRedaction(db: Executor, sealer: Sealer) {
  const cache = new Map<string, Promise<Redact>>();
  async function load(leaseId: string): Promise<Redact> {
    const rows = await queryRows<ReleasedRow>(
      db('secret_accesses as a')
        .join('secret_versions as v', (j) => j.on('v.secret_id', 'a.secret_id').andOn('v.version', 'a.version'))
        .join('secrets as s', 's.id', 'a.secret_id')
        .whereIn('a.run_id', db('runs').select('id').where('lease_id', leaseId))
        .distinct('s.name', 'a.secret_id', 'a.version', 'v.application_id', 'v.data_key_sealed', 'v.value_encrypted'),
    );
    return redactorOf(
      rows.map((row) => ({
        name: row.name,
        value: decryptValue(
          sealer,
          { applicationId: row.application_id, secretId: row.secret_id, version: row.version },
          {
            dataKeySealed: row.data_key_sealed,
            valueEncrypted: row.value_encrypted,
          },
        ),
      })),
    );
  }
  return {
    forLease(leaseId: string): Promise<Redact> {
      let found = cache.get(leaseId);
      if (!found) {
        found = load(leaseId);
        found.catch(() => cache.delete(leaseId));
        if (cache.size >= CACHED_LEASES) cache.delete(cache.keys().next().value!);
        cache.set(leaseId, found);
      }
      return found;
    },
  };
}

export type RunRedaction = ReturnType<typeof createRunRedaction>;
