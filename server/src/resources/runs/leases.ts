import type { RunTokenIdentity } from '../../auth/run-token.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import { ProblemError } from '../../problems/problems.js';
import { nowIso } from '../../util/time.js';

/**
 * Within the writing transaction, the run still runs under the token's lease: its row is locked
 * against the change that would end the lease (PostgreSQL) or the transaction runs alone
 * (SQLite), so a run whose lease is lost meanwhile never writes after it. `update` when the
 * transaction locks the run's row for update later (a shared lock would have to be raised, and
 * two such transactions would deadlock).
 */
export async function assertRunHoldsLease(db: Executor, run: RunTokenIdentity, lock: 'share' | 'update' = 'share'): Promise<void> {
  const [row] = await selectRows<{ status: string; lease_id: string | null; fencing_token: number | string; lease_expires_at: string | null }>(
    db,
    `select status, lease_id, fencing_token, lease_expires_at from runs where id = ?${isPostgres(db) ? ` for ${lock}` : ''}`,
    [run.runId],
  );
  const held =
    row?.status === 'running' &&
    row.lease_id === run.leaseId &&
    Number(row.fencing_token) === run.fencingToken &&
    row.lease_expires_at !== null &&
    row.lease_expires_at > nowIso();
  if (!held) throw new ProblemError('lease-lost', `Run ${run.runId} no longer runs under this token's lease: it cannot write.`);
}
