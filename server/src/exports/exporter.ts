import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { startClaimPool } from '../util/claim-pool.js';
import { claimExports, onExportQueued, writeExport, type ExportKind, type ExportRow, type ExportSource } from './files.js';

/** A writer's claim on an export lasts this long, and is extended at every part it writes. */
const CLAIM_MS = 120_000;
/** How often each replica looks for exports nobody announced to it (another replica's, a writer that stopped). */
const INTERVAL_MS = 5_000;

export type Exporter = {
  /** Writes every export queued now, and waits until they are written (tests drive it). */
  drain(): Promise<void>;
  stop(): Promise<void>;
};

/** Each kind's lines for one export. */
export type ExportSources = Record<ExportKind, (job: ExportRow) => Promise<ExportSource>>;

/** Writes file exports, one at a time per replica: an export reads a whole log, and is never urgent. */
export function startExporter(db: Db, sources: ExportSources, logger: Logger): Exporter {
  const pool = startClaimPool<ExportRow>({
    slots: 1,
    claim: (free) => claimExports(db, free, CLAIM_MS),
    work: (job) => writeExport(db, job, CLAIM_MS, () => sources[job.kind](job)),
    intervalMs: INTERVAL_MS,
    logger,
    what: 'file export',
    logFields: (job) => ({ exportId: job.id, kind: job.kind }),
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
