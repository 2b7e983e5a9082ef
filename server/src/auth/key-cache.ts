import type { KeyIdentity } from './identity.js';

/**
 * Authenticated API keys by secret hash, for a few seconds: most requests then skip the key
 * lookup. A change to a key (revoked, rotated, rescoped, deleted) drops its entries at once, on
 * this process and, through the bus, on every replica; the short TTL bounds what a lost bus message
 * could leave behind.
 */
export type KeyCache = {
  lookup(hash: string, nowMs: number): KeyIdentity | undefined;
  /** Taken before reading the database: an invalidation after it turns the matching store() into a no-op. */
  generation(): number;
  store(hash: string, identity: KeyIdentity, validUntilMs: number, generation: number, nowMs: number): void;
  forget(keyIds: readonly string[]): void;
};

export function createKeyCache(ttlMs: number, maxEntries = 10_000): KeyCache {
  const entries = new Map<string, { identity: KeyIdentity; expiresAt: number }>();
  let generation = 0;
  return {
    lookup(hash, nowMs) {
      const entry = entries.get(hash);
      if (!entry) return undefined;
      if (entry.expiresAt > nowMs) return entry.identity;
      entries.delete(hash);
      return undefined;
    },
    generation: () => generation,
    store(hash, identity, validUntilMs, taken, nowMs) {
      if (ttlMs <= 0 || taken !== generation) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(hash, { identity, expiresAt: Math.min(validUntilMs, nowMs + ttlMs) });
    },
    forget(keyIds) {
      generation++;
      const ids = new Set(keyIds);
      for (const [hash, entry] of entries) if (ids.has(entry.identity.keyId)) entries.delete(hash);
    },
  };
}
