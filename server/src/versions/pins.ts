import type { Executor } from '../db/database.js';
import { nowMs } from '../util/time.js';

/**
 * Organizations' pinned versions, by organization id, for a few seconds: a request without
 * `Switchboard-Version` needs its organization's, and most then skip the lookup. A change of a pin
 * drops its entry at once on this process and, through the bus, on every replica; the short TTL
 * bounds what a lost bus message could leave behind.
 */
export type OrganizationPins = {
  of(db: Executor, organizationId: string): Promise<string | undefined>;
  forget(ids: readonly string[]): void;
};

export function createOrganizationPins(ttlMs: number, maxEntries = 10_000): OrganizationPins {
  const entries = new Map<string, { version: string; expiresAt: number }>();
  let generation = 0;
  return {
    async of(db, organizationId) {
      const at = nowMs();
      const entry = entries.get(organizationId);
      if (entry && entry.expiresAt > at) return entry.version;
      const taken = generation;
      const row = await db('organizations').where({ id: organizationId }).first<{ api_version: string } | undefined>('api_version');
      if (!row) return undefined;
      // A change forgotten while this read was under way must not be put back.
      if (taken === generation && ttlMs > 0) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(organizationId, { version: row.api_version, expiresAt: at + ttlMs });
      }
      return row.api_version;
    },
    forget(ids) {
      generation++;
      for (const id of ids) entries.delete(id);
    },
  };
}
