import type { Db } from '../../db/database.js';
import { newId } from '../../util/ids.js';
import { nowMs } from '../../util/time.js';
import { INSTALLATION_CHAIN, insertAuditEvent } from './store.js';

/** How long the installation's own chain (refused credentials, logins) is kept. */
const INSTALLATION_RETENTION_DAYS = 365;
const DAY_MS = 86_400_000;

/**
 * Deletes each chain's events older than its organization's retention, from its start: the chain
 * keeps where pruning stopped and the last pruned hash, so the first event kept still verifies, and
 * an `audit.pruned` event (by `system`, chained like any other) records what went. Only chained
 * events are pruned, a whole prefix at a time. Returns how many events were deleted.
 */
export async function pruneAuditEvents(db: Db): Promise<number> {
  const organizations = await db('organizations').select<{ id: string; audit_retention_days: number }[]>('id', 'audit_retention_days');
  const chains = [...organizations.map((o) => ({ id: o.id, days: o.audit_retention_days })), { id: INSTALLATION_CHAIN, days: INSTALLATION_RETENTION_DAYS }];
  let deleted = 0;
  for (const chain of chains) {
    const olderThan = new Date(nowMs() - chain.days * DAY_MS).toISOString();
    deleted += await db.transaction(async (trx) => {
      const last = await trx('audit_events')
        .where('organization_id', chain.id)
        .whereNotNull('position')
        .where('created_at', '<', olderThan)
        .orderBy('position', 'desc')
        .first<{ position: number | string; hash: string } | undefined>('position', 'hash');
      if (!last) return 0;
      const throughPosition = Number(last.position);
      const count = await trx('audit_events').where('organization_id', chain.id).where('position', '<=', throughPosition).delete();
      await trx('audit_chains').where({ organization_id: chain.id }).update({ pruned_through: throughPosition, pruned_hash: last.hash });
      await insertAuditEvent(trx, {
        organizationId: chain.id === INSTALLATION_CHAIN ? null : chain.id,
        applicationId: null,
        action: 'audit.pruned',
        outcome: 'succeeded',
        status: 200,
        actor: { type: 'system', id: null, userId: null },
        endUserId: null,
        resourceType: 'audit',
        resourceId: null,
        runId: null,
        request: { id: newId('req'), operationId: null, method: null, path: null, idempotencyKey: null, apiVersion: null, ip: null, userAgent: null },
        before: null,
        after: { throughPosition, lastHash: last.hash, deleted: count, olderThan, retentionDays: chain.days },
      });
      return count;
    });
  }
  return deleted;
}
