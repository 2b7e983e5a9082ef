import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import { startClaimPool } from '../../util/claim-pool.js';
import type { AuditChainer } from './chainer.js';
import { claimExports, onExportQueued, writeExport, type ExportRow } from './exports.js';

/** A writer's claim on an export lasts this long, and is extended at every part it writes. */
const CLAIM_MS = 120_000;
/** How often each replica looks for exports nobody announced to it (another replica's, a writer that stopped). */
const INTERVAL_MS = 5_000;

export type AuditExporter = {
  /** Writes every export queued now, and waits until they are written (tests drive it). */
  drain(): Promise<void>;
  stop(): Promise<void>;
};

/** Writes audit exports, one at a time per replica: an export reads the whole log, and is never urgent. */
export function startAuditExporter(db: Db, chainer: AuditChainer, logger: Logger): AuditExporter {
  const pool = startClaimPool<ExportRow>({
    slots: 1,
    claim: (free) => claimExports(db, free, CLAIM_MS),
    work: async (job) => {
      // Everything committed before the export was asked for is in the chain before it is read.
      await chainer.catchUp();
      await writeExport(db, job, CLAIM_MS);
    },
    intervalMs: INTERVAL_MS,
    logger,
    what: 'audit export',
    logFields: (job) => ({ auditExportId: job.id }),
  });
  const unsubscribe = onExportQueued(() => void pool.fill());
  return {
    drain: () => pool.drain(),
    stop: async () => {
      unsubscribe();
      await pool.stop();
    },
  };
}
