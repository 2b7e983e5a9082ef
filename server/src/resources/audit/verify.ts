import type { Executor } from '../../db/database.js';
import { AUDIT_COLUMNS, GENESIS_HASH, hashOf, type AuditRow } from './store.js';

/** Events read per query while checking. */
const BATCH = 1000;

export type ChainState = { position: number; hash: string; prunedThrough: number; prunedHash: string | null };

export type ChainBreak = { position: number; auditEventId: string | null; reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'missing'; detail: string };

export async function chainState(db: Executor, organizationId: string): Promise<ChainState> {
  const row = await db('audit_chains')
    .where({ organization_id: organizationId })
    .first<{ position: number | string; hash: string; pruned_through: number | string; pruned_hash: string | null } | undefined>(
      'position',
      'hash',
      'pruned_through',
      'pruned_hash',
    );
  if (!row) return { position: 0, hash: GENESIS_HASH, prunedThrough: 0, prunedHash: null };
  return { position: Number(row.position), hash: row.hash, prunedThrough: Number(row.pruned_through), prunedHash: row.pruned_hash };
}

/**
 * What pruning left must agree with the newest `audit.pruned` event (itself in the chain): the
 * chain's record of its pruned start cannot be changed alone.
 */
async function pruneBreak(db: Executor, organizationId: string, chain: ChainState): Promise<ChainBreak | null> {
  if (!chain.prunedThrough) return null;
  const record = await db('audit_events')
    .where({ organization_id: organizationId, action: 'audit.pruned' })
    .whereNotNull('position')
    .orderBy('position', 'desc')
    .first<{ after: string | null } | undefined>('after');
  const stated = record?.after ? (JSON.parse(record.after) as { throughPosition?: number; lastHash?: string }) : undefined;
  if (stated?.throughPosition === chain.prunedThrough && stated.lastHash === chain.prunedHash) return null;
  return {
    position: chain.prunedThrough,
    auditEventId: null,
    reason: 'missing',
    detail: `Events up to position ${chain.prunedThrough} are gone, and no audit.pruned event records their pruning.`,
  };
}

/**
 * Checks positions `from` to `to` of the organization's chain (clamped to what is kept): each event
 * is at its place, follows the one before, and hashes to its hash; the last of the chain matches
 * its head. Returns the first break, and how many events were checked.
 */
export async function verifyChain(
  db: Executor,
  organizationId: string,
  range: { from?: number; to?: number },
): Promise<{ chain: ChainState; from: number; to: number; checked: number; firstBreak: ChainBreak | null }> {
  const chain = await chainState(db, organizationId);
  const from = Math.max(range.from ?? 1, chain.prunedThrough + 1);
  const to = Math.min(range.to ?? chain.position, chain.position);
  const result = (checked: number, firstBreak: ChainBreak | null) => ({ chain, from, to: Math.max(to, 0), checked, firstBreak });
  const pruned = from === chain.prunedThrough + 1 ? await pruneBreak(db, organizationId, chain) : null;
  if (pruned) return result(0, pruned);
  if (from > to) return result(0, null);

  let expectedPrev: string;
  if (from === 1) expectedPrev = GENESIS_HASH;
  else if (from === chain.prunedThrough + 1) expectedPrev = chain.prunedHash ?? GENESIS_HASH;
  else {
    const previous = await db('audit_events')
      .where({ organization_id: organizationId, position: from - 1 })
      .first<{ hash: string } | undefined>('hash');
    if (!previous) return result(0, { position: from - 1, auditEventId: null, reason: 'missing', detail: `No event holds position ${from - 1}.` });
    expectedPrev = previous.hash;
  }

  let checked = 0;
  for (let start = from; start <= to; start += BATCH) {
    const end = Math.min(start + BATCH - 1, to);
    const rows = await db('audit_events')
      .where('organization_id', organizationId)
      .whereBetween('position', [start, end])
      .orderBy('position')
      .select<AuditRow[]>(AUDIT_COLUMNS);
    let at = start;
    for (const row of rows) {
      const position = Number(row.position);
      if (position !== at) return result(checked, { position: at, auditEventId: null, reason: 'missing', detail: `No event holds position ${at}.` });
      if (row.prev_hash !== expectedPrev) {
        return result(checked, {
          position,
          auditEventId: row.id,
          reason: 'prev_hash_mismatch',
          detail: `Its prevHash is ${row.prev_hash ?? 'empty'}; the event before it hashes to ${expectedPrev}.`,
        });
      }
      const hash = hashOf(expectedPrev, row);
      if (hash !== row.hash) {
        return result(checked, {
          position,
          auditEventId: row.id,
          reason: 'hash_mismatch',
          detail: `Its fields hash to ${hash}, not to its recorded hash ${row.hash ?? 'empty'}.`,
        });
      }
      expectedPrev = hash;
      checked++;
      at++;
    }
    if (at <= end) return result(checked, { position: at, auditEventId: null, reason: 'missing', detail: `No event holds position ${at}.` });
  }
  if (to === chain.position && expectedPrev !== chain.hash) {
    return result(checked, {
      position: to,
      auditEventId: null,
      reason: 'hash_mismatch',
      detail: `The chain's head records hash ${chain.hash}; the event at its position hashes to ${expectedPrev}.`,
    });
  }
  return result(checked, null);
}
