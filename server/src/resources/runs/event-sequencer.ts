import type { Knex } from 'knex';
import type pg from 'pg';
import type { Logger } from 'pino';
import { withPooledConnection } from '../../db/knex-internals.js';
import { serialPasses } from '../../util/serial-passes.js';
import { toStored, type EventRow, type RunEventBus, type StoredEvent } from './events.js';

/** Serialises numbering passes across every replica on the database (any constant unused by others). */
const SEQUENCER_LOCK = 0x5357_4556;
/** Events numbered per transaction: a backlog (after an outage) is numbered in passes this size. */
const BATCH = 2000;

/**
 * Numbers up to `BATCH` committed, unnumbered events: per application, after its last cursor,
 * each run's pending events as a prefix in seq order. Run under the lock, in its own transaction,
 * so that cursors are committed in order and `event_cursors` stays the head of every application.
 */
const NUMBER = `
with pending as (
  select id, application_id, row_number() over (partition by application_id order by run_id, seq) as n
  from (select id, application_id, run_id, seq from run_events where cursor is null order by run_id, seq limit ${BATCH}) oldest
), counts as (
  select application_id, count(*) as c from pending group by application_id
), bumped as (
  insert into event_cursors (application_id, last_cursor) select application_id, c from counts
  on conflict (application_id) do update set last_cursor = event_cursors.last_cursor + excluded.last_cursor
  returning application_id, last_cursor
)
update run_events r set cursor = b.last_cursor - c.c + p.n
from pending p
join counts c on c.application_id = p.application_id
join bumped b on b.application_id = p.application_id
where r.id = p.id
returning r.id, r.application_id, r.run_id, r.agent_id, r.end_user_id, r.thread_id, r.seq, r.cursor, r.type, r.data, r.attempt, r.runner_seq, r.created_at`;

const PASS = `begin; select pg_advisory_xact_lock(${SEQUENCER_LOCK}); ${NUMBER}; commit`;

export type EventSequencer = {
  /**
   * Numbers every event committed before the call, publishes what it numbered, and sets the
   * cursor of each of `events` (the caller's, committed): when it returns, they are in the log.
   */
  publish(events: StoredEvent[]): Promise<void>;
  stop(): Promise<void>;
};

/**
 * PostgreSQL's event numbering after commit (docs/architecture.md, "The event log"). A process
 * runs one pass at a time; callers that arrive during a pass wait for the next one, which starts
 * after their commit and numbers all of them together. A periodic pass numbers what a writer that
 * died between its commit and its pass left behind.
 */
export function startEventSequencer(db: Knex, bus: RunEventBus, options: { intervalMs: number; logger: Logger }): EventSequencer {
  const { intervalMs, logger } = options;

  /**
   * One transaction, sent as one round trip: BEGIN, the lock, the numbering (a statement of its
   * own, so its snapshot is taken after the lock and includes every pass committed before this
   * one), COMMIT. Everything it numbered is published once it has committed.
   */
  const numberBatch = async (): Promise<StoredEvent[]> => {
    const rows = await withPooledConnection(db, async (connection) => {
      const conn = connection as pg.ClientBase;
      try {
        const results = (await conn.query(PASS)) as unknown as pg.QueryResult<EventRow>[];
        return results[2]!.rows;
      } catch (err) {
        // A failed statement leaves the connection in an aborted transaction: end it before it goes back to the pool.
        await conn.query('rollback').catch(() => {});
        throw err;
      }
    });
    const stored = rows.map(toStored).sort((a, b) => a.event.cursor - b.event.cursor);
    if (stored.length) await bus.publish(stored).catch((err: unknown) => logger.warn({ err }, 'publishing numbered events failed'));
    return stored;
  };

  const numberAll = async (): Promise<Map<string, number>> => {
    const numbered = new Map<string, number>();
    for (;;) {
      const batch = await numberBatch();
      for (const s of batch) numbered.set(s.event.id, s.event.cursor);
      if (batch.length < BATCH) return numbered;
    }
  };

  const { pass, idle } = serialPasses(numberAll);

  const sweep = async () => {
    const pending = await db('run_events').whereNull('cursor').first<{ id: string } | undefined>('id');
    if (pending) await pass();
  };
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= sweep()
      .catch((err: unknown) => logger.warn({ err }, 'numbering events failed'))
      .finally(() => {
        sweeping = undefined;
      });
  }, intervalMs);
  timer.unref();

  return {
    publish: async (events) => {
      if (!events.length) return;
      const numbered = await pass();
      const missing: StoredEvent[] = [];
      for (const e of events) {
        const cursor = numbered.get(e.event.id);
        if (cursor !== undefined) e.event.cursor = cursor;
        else if (!e.event.cursor) missing.push(e);
      }
      // Numbered (and published) by another replica's pass, which held the lock before ours.
      if (missing.length) {
        const rows = await db('run_events')
          .whereIn(
            'id',
            missing.map((e) => e.event.id),
          )
          .select<{ id: string; cursor: number | string }[]>('id', 'cursor');
        const byId = new Map(rows.map((r) => [r.id, Number(r.cursor)]));
        for (const e of missing) e.event.cursor = byId.get(e.event.id) ?? 0;
      }
    },
    stop: async () => {
      clearInterval(timer);
      await Promise.allSettled([idle(), sweeping]);
    },
  };
}

/** The bus as event producers use it on PostgreSQL: publishing numbers the events first. */
export function sequencedBus(bus: RunEventBus, sequencer: EventSequencer): RunEventBus {
  return { ...bus, publish: (events) => sequencer.publish(events) };
}
