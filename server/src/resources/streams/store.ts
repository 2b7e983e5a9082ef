import type { Executor } from '../../db/database.js';
import { runMachine, type RunStatus } from '../runs/state-machine.js';

/** The application's last event cursor: every event numbered up to it is committed. */
export async function lastCursor(db: Executor, applicationId: string): Promise<number> {
  const row = await db('event_cursors').where({ application_id: applicationId }).first<{ last_cursor: number | string } | undefined>('last_cursor');
  return Number(row?.last_cursor ?? 0);
}

/**
 * The seq of a run's last numbered event (everything up to it can be read; on PostgreSQL a
 * committed event is numbered a moment later), and whether the run is finished with all its
 * events numbered.
 */
export async function runProgress(db: Executor, runId: string): Promise<{ numberedSeq: number; done: boolean }> {
  const row = await db('runs as r')
    .where('r.id', runId)
    .first<{ status: RunStatus; last_seq: number | string; numbered: number | string | null }>(
      'r.status',
      'r.last_seq',
      db.raw('(select max(e.seq) from run_events e where e.run_id = r.id and e.cursor is not null) as numbered'),
    );
  const numberedSeq = Number(row.numbered ?? 0);
  return { numberedSeq, done: runMachine.isTerminal(row.status) && numberedSeq >= Number(row.last_seq) };
}
