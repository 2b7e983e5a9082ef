import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { nowIso } from '../util/time.js';
import { isPostgres, type Executor } from './database.js';

/** A row a worker took, and the token its later writes must present: a row taken over, cancelled or deleted meanwhile refuses them. */
export type Claimed = { id: string; token: string };

/** A work queue kept in a table: which of its rows may be taken, in what order, and what taking one writes. */
export type ClaimSpec = {
  table: string;
  /** Narrows the query to the rows that may be taken at `now` (typically queued, or held under a lock that ran out). */
  claimable: (query: Knex.QueryBuilder, now: string) => void;
  /** The column whose oldest rows are taken first. */
  orderBy: string;
  /** The columns a claim writes on a row it takes: its status, lock token and lock expiry, under the table's own names. */
  set: (token: string, now: string, trx: Knex.Transaction) => Record<string, unknown>;
};

/**
 * Takes up to `limit` rows of `spec.table` in one transaction, each with a token of its own. On
 * PostgreSQL the rows another replica is claiming are skipped, not waited for; SQLite has one writer.
 */
export async function claimRows(db: Executor, spec: ClaimSpec, limit: number): Promise<Claimed[]> {
  return db.transaction(async (trx) => {
    const now = nowIso();
    const query = trx(spec.table);
    spec.claimable(query, now);
    query.orderBy(spec.orderBy).limit(limit).select('id').forUpdate();
    const ids = ((await (isPostgres(trx) ? query.skipLocked() : query)) as { id: string }[]).map((r) => r.id);
    const claimed: Claimed[] = [];
    for (const id of ids) {
      const token = randomUUID();
      await trx(spec.table)
        .where({ id })
        .update(spec.set(token, now, trx));
      claimed.push({ id, token });
    }
    return claimed;
  });
}
