import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { insertRows, writerRows } from '../../db/statements.js';
import type { EventBus } from '../../realtime/bus.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type RunEvent = components['schemas']['RunEvent'];
export type EventInput = { type: string; data: Record<string, unknown>; runnerSeq?: number };

/**
 * What every published event carries besides itself, so streams can filter without a lookup:
 * `endUserId`, the end-user the event's run is for (streams acting for one pass only theirs), and
 * `threadId`, the thread of the run (a thread's stream passes its runs' events).
 */
export type StoredEvent = { applicationId: string; agentId: string; endUserId: string | null; threadId: string | null; event: RunEvent };

/** The bus as runs use it: committed run events, live to every process. */
export type RunEventBus = EventBus<StoredEvent>;

export type EventRow = {
  id: string;
  application_id: string;
  run_id: string;
  agent_id: string;
  end_user_id: string | null;
  thread_id: string | null;
  seq: number | string;
  /** Null on PostgreSQL until the event sequencer numbers it, after its transaction commits. */
  cursor: number | string | null;
  type: string;
  data: string;
  attempt: number;
  runner_seq: number | string | null;
  created_at: string;
};

export const toRunEvent = (row: EventRow): RunEvent => ({
  id: row.id,
  object: 'run_event',
  runId: row.run_id,
  seq: Number(row.seq),
  cursor: Number(row.cursor),
  type: row.type,
  data: fromJsonColumn(row.data, {}),
  createdAt: row.created_at,
});

export const toStored = (row: EventRow): StoredEvent => ({
  applicationId: row.application_id,
  agentId: row.agent_id,
  endUserId: row.end_user_id ?? null,
  threadId: row.thread_id ?? null,
  event: toRunEvent(row),
});

/** Reserves `count` numbers after the application's last cursor; the row stays locked until commit. */
async function reserveCursors(db: Executor, applicationId: string, count: number): Promise<number> {
  const [row] = await writerRows<{ last_cursor: number | string }>(
    db,
    'insert into event_cursors (application_id, last_cursor) values (?, ?) on conflict (application_id) do update set last_cursor = event_cursors.last_cursor + excluded.last_cursor returning last_cursor',
    [applicationId, count],
  );
  return Number(row!.last_cursor) - count + 1;
}

async function reserveSeqs(db: Executor, runId: string, count: number): Promise<number> {
  const [row] = await db('runs').where({ id: runId }).increment('last_seq', count).returning<{ last_seq: number | string }[]>('last_seq');
  return Number(row!.last_seq) - count + 1;
}

export type RunRef = { id: string; application_id: string; agent_id: string; end_user_id: string | null; thread_id: string | null; attempt: number };

/**
 * Appends events to a run in the caller's transaction. Events the runner already sent (same
 * runner sequence number within this attempt) are not stored again; they come back as duplicates.
 */
export async function appendEvents(db: Executor, run: RunRef, inputs: EventInput[]): Promise<{ stored: StoredEvent[]; duplicates: StoredEvent[] }> {
  let fresh = inputs;
  let duplicates: StoredEvent[] = [];
  const runnerSeqs = inputs.flatMap((e) => (e.runnerSeq === undefined ? [] : [e.runnerSeq]));
  if (runnerSeqs.length) {
    const existing = (await db('run_events').where({ run_id: run.id, attempt: run.attempt }).whereIn('runner_seq', runnerSeqs)) as EventRow[];
    const seen = new Set(existing.map((r) => Number(r.runner_seq)));
    duplicates = existing.map(toStored);
    const inBatch = new Set<number>();
    fresh = inputs.filter((e) => {
      if (e.runnerSeq === undefined) return true;
      if (seen.has(e.runnerSeq) || inBatch.has(e.runnerSeq)) return false;
      inBatch.add(e.runnerSeq);
      return true;
    });
  }
  if (!fresh.length) return { stored: [], duplicates };

  const stored = await insertEvents(db, run, fresh, await reserveSeqs(db, run.id, fresh.length));
  return { stored, duplicates };
}

/**
 * Stores events numbered from `firstSeq` (already reserved on the run) in the caller's transaction.
 * On SQLite they get their cursors here; on PostgreSQL the event sequencer numbers them after the
 * commit, when they are published (docs/architecture.md, "The event log").
 */
export async function insertEvents(db: Executor, run: RunRef, fresh: EventInput[], firstSeq: number): Promise<StoredEvent[]> {
  const rows = eventRows(run, fresh, firstSeq, isPostgres(db) ? null : await reserveCursors(db, run.application_id, fresh.length));
  for (let i = 0; i < rows.length; i += 200) await insertRows(db, 'run_events', rows.slice(i, i + 200));
  return rows.map(toStored);
}

/** The rows of events numbered from `firstSeq`, with cursors from `firstCursor` (null: numbered after commit). */
export function eventRows(run: RunRef, fresh: EventInput[], firstSeq: number, firstCursor: number | null): EventRow[] {
  const now = nowIso();
  return fresh.map((e, i) => ({
    id: newId('evt'),
    application_id: run.application_id,
    run_id: run.id,
    agent_id: run.agent_id,
    end_user_id: run.end_user_id,
    thread_id: run.thread_id,
    seq: firstSeq + i,
    cursor: firstCursor === null ? null : firstCursor + i,
    type: e.type,
    data: toJsonColumn(e.data),
    attempt: run.attempt,
    runner_seq: e.runnerSeq ?? null,
    created_at: now,
  }));
}

/** A run's numbered events after `afterSeq` (and up to `upToSeq`), in order: always a prefix of the run's. */
export async function runEventsAfter(db: Executor, runId: string, afterSeq: number, limit: number, upToSeq?: number): Promise<RunEvent[]> {
  const query = db('run_events').where({ run_id: runId }).where('seq', '>', afterSeq).whereNotNull('cursor').orderBy('seq').limit(limit);
  if (upToSeq !== undefined) query.where('seq', '<=', upToSeq);
  const rows = (await query) as EventRow[];
  return rows.map(toRunEvent);
}

/** An application's events with a cursor in (after, upTo], in order; optionally of one agent's runs, one end-user's, or one thread's. */
export async function applicationEventsBetween(
  db: Executor,
  applicationId: string,
  after: number,
  upTo: number | undefined,
  limit: number,
  only: { agentId?: string; endUserId?: string; threadId?: string; typePrefix?: string } = {},
): Promise<StoredEvent[]> {
  const query = db('run_events').where({ application_id: applicationId }).where('cursor', '>', after).orderBy('cursor').limit(limit);
  if (upTo !== undefined) query.where('cursor', '<=', upTo);
  if (only.typePrefix) query.where('type', 'like', `${only.typePrefix}%`);
  if (only.agentId) query.where({ agent_id: only.agentId });
  if (only.endUserId) query.where({ end_user_id: only.endUserId });
  if (only.threadId) query.where({ thread_id: only.threadId });
  return ((await query) as EventRow[]).map(toStored);
}

/** Specific events of an application, by cursor (for bus messages too large to carry them). */
export async function eventsByCursor(db: Executor, applicationId: string, cursors: number[]): Promise<StoredEvent[]> {
  const rows = (await db('run_events').where({ application_id: applicationId }).whereIn('cursor', cursors).orderBy('cursor')) as EventRow[];
  return rows.map(toStored);
}
