import type { Executor } from '../../db/database.js';
import type { RunStatus } from '../runs/state-machine.js';

/** The application's last event cursor: every event numbered up to it is committed. */
export async function lastCursor(db: Executor, applicationId: string): Promise<number> {
  const row = await db('event_cursors').where({ application_id: applicationId }).first<{ last_cursor: number | string } | undefined>('last_cursor');
  return Number(row?.last_cursor ?? 0);
}

/** The number of a run's last committed event. */
export async function lastSeq(db: Executor, runId: string): Promise<number> {
  return Number((await db('runs').where({ id: runId }).first<{ last_seq: number | string }>('last_seq')).last_seq);
}

export async function runStatus(db: Executor, runId: string): Promise<RunStatus> {
  return (await db('runs').where({ id: runId }).first<{ status: RunStatus }>('status')).status;
}
