import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import { isPostgres, type Db } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { startClaimPool } from '../../util/claim-pool.js';
import { isoAfter, nowIso } from '../../util/time.js';
import { refreshConnectionTokens } from './refresh.js';
import * as store from './store.js';

/** Connections one replica refreshes at once. */
const SLOTS = 4;
/**
 * How long a claim keeps other replicas (and this one) off a connection: well beyond one token
 * call (30 s at most), and the soonest a failed or short-lived refresh is tried again.
 */
const CLAIM_MS = 2 * 60_000;

type Claimed = { id: string; applicationId: string };

export type ConnectionSweeper = {
  /** Refreshes every connection due now, and waits until each refresh is stored. */
  drain: () => Promise<void>;
  stop: () => Promise<void>;
};

/**
 * Claims the `active` oauth2 connections whose access token expires within `aheadMs` (or has
 * expired) that no replica holds: on PostgreSQL rows another claim has locked are skipped, and each
 * claimed row is marked until CLAIM_MS from now, so two replicas never refresh one connection at once.
 */
async function claimDue(db: Db, limit: number, aheadMs: number): Promise<Claimed[]> {
  return db.transaction(async (trx) => {
    const now = nowIso();
    const query = trx('connections')
      .where({ auth_type: 'oauth2', status: 'active' })
      .whereNotNull('expires_at')
      .where('expires_at', '<=', isoAfter(aheadMs))
      .where((q) => {
        q.whereNull('refresh_claimed_until').orWhere('refresh_claimed_until', '<=', now);
      })
      .orderBy('expires_at')
      .limit(limit)
      .select('id', 'application_id')
      .forUpdate();
    const rows = (await (isPostgres(trx) ? query.skipLocked() : query)) as { id: string; application_id: string }[];
    if (rows.length) {
      await trx('connections')
        .whereIn(
          'id',
          rows.map((r) => r.id),
        )
        .update({ refresh_claimed_until: isoAfter(CLAIM_MS) });
    }
    return rows.map((r) => ({ id: r.id, applicationId: r.application_id }));
  });
}

/**
 * Refreshes idle OAuth tokens before they expire, so a run's first call through the proxy does not
 * wait on the provider (or find the refresh token gone stale). Each refresh is the one the API's
 * refreshConnection makes: `invalid_grant` moves the connection to `needs_reauth`, a provider that
 * fails otherwise leaves it as it is, to be tried again once the claim runs out.
 */
export function startConnectionSweeper(
  db: Db,
  sealer: Sealer,
  config: Pick<Config['connections'], 'refreshAheadMs' | 'sweepIntervalMs'>,
  logger: Logger,
): ConnectionSweeper {
  async function refresh(claimed: Claimed): Promise<void> {
    const row = await store.getConnectionRow(db, claimed.applicationId, claimed.id);
    if (row.status !== 'active' || row.auth_type !== 'oauth2') return;
    const credentials = store.credentialsOf(sealer, row);
    // Without a refresh token the access token serves until it expires; the proxy says so then.
    if (credentials.kind !== 'oauth2' || !credentials.refreshToken) return;
    try {
      await refreshConnectionTokens(db, sealer, row);
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err;
      logger.warn({ connectionId: row.id, code: err.code, detail: err.detail }, 'refreshing a connection ahead of its expiry failed; it is tried again later');
    }
  }

  const pool = startClaimPool({
    slots: SLOTS,
    claim: (free) => claimDue(db, free, config.refreshAheadMs),
    work: refresh,
    intervalMs: config.sweepIntervalMs,
    logger,
    what: 'connection refresh',
    logFields: (c) => ({ connectionId: c.id }),
  });
  return { drain: () => pool.drain(), stop: () => pool.stop() };
}
