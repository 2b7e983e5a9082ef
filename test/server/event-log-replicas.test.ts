import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { typeid } from 'typeid-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBootstrapKey, onPostgres, replicaBuses, startReplicas, type Replicas } from '../support/server-process.js';
import {
  appendEvents,
  bearer,
  claim,
  logs,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  SseStream,
  type Conn,
  type Run,
  type RunEvent,
  type SseMessage,
} from './run-helpers.js';

/**
 * The event log's guarantee under load on PostgreSQL, where events are numbered after they
 * commit: 8 writers on 3 replicas append 5,000 events while 20 readers drop their streams at
 * random points and resume on any replica with Last-Event-ID. Every reader must get every event
 * exactly once, in cursor order, including the event of a writer whose transaction stayed open
 * for 2 s while the others committed and were read past it.
 */
const suite = onPostgres ? describe : describe.skip;
const title = onPostgres
  ? 'the event log on PostgreSQL: resumes across replicas under concurrent writers'
  : 'the event log on PostgreSQL (skipped: DATABASE_URL is not postgres://; SQLite numbers events in the writer, one at a time)';

const WRITERS = 8;
const BATCHES = 25;
const PER_BATCH = 25;
const READERS = 20;

/** A seeded generator, so a failing interleaving can be told apart from another (the seed is in the title). */
function random(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

suite(title, () => {
  const bus = replicaBuses[0]!;
  const key = newBootstrapKey();
  const seed = randomBytes(4).readUInt32BE();
  let replicas: Replicas;
  let conns: Conn[];

  beforeAll(async () => {
    replicas = await startReplicas(3, {
      SWITCHBOARD_BOOTSTRAP_KEY: key,
      REDIS_URL: bus.redis,
      SSE_PING_SECONDS: '0.5',
      RATE_LIMIT_RUN: '100000',
      RATE_LIMIT_WRITE: '100000',
      RATE_LIMIT_READ: '100000',
    });
    conns = replicas.servers.map((s) => ({ baseUrl: s.url, key }));
  }, 60_000);

  afterAll(async () => {
    await replicas?.stop();
  });

  /** A writer that is not the server: a transaction that takes the run's next seq, inserts its event, and commits `holdMs` later. */
  async function slowWriter(run: Run, holdMs: number, inserted: () => void): Promise<void> {
    const client = new pg.Client({ connectionString: replicas.servers[0]!.database.url });
    await client.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<{ last_seq: string; application_id: string; agent_id: string }>(
        'update runs set last_seq = last_seq + 1 where id = $1 returning last_seq, application_id, agent_id',
        [run.id],
      );
      const row = rows[0]!;
      await client.query(
        `insert into run_events (id, application_id, run_id, agent_id, seq, cursor, type, data, attempt, runner_seq, created_at)
         values ($1, $2, $3, $4, $5, null, 'log', $6, 1, null, $7)`,
        [
          typeid('evt').toString(),
          row.application_id,
          run.id,
          row.agent_id,
          row.last_seq,
          JSON.stringify({ level: 'info', message: 'held open' }),
          new Date().toISOString(),
        ],
      );
      inserted();
      await new Promise((r) => setTimeout(r, holdMs));
      await client.query('commit');
    } finally {
      await client.end();
    }
  }

  it(`${bus.name}: ${WRITERS} writers, ${READERS} resuming readers, one transaction held 2 s (seed ${seed})`, async () => {
    const rand = random(seed);
    const agent = await newAgent(conns[0]!);
    const slowRun = await newRun(conns[1]!, agent.id);
    const runners = await Promise.all(Array.from({ length: WRITERS }, (_, i) => newRunner(conns[i % 3]!)));
    // Each writer's run is created and claimed before the readers start; the rest happens while they read.
    const runs = [slowRun];
    for (let i = 0; i < WRITERS; i++) runs.push(await newRun(conns[i % 3]!, agent.id, { input: { i } }));

    // Known once the writers are done; until then readers read on.
    let total = Number.POSITIVE_INFINITY;
    const reader = async (n: number): Promise<SseMessage[]> => {
      const seen: SseMessage[] = [];
      let reconnects = 0;
      while (seen.length < total) {
        const conn = conns[(n + reconnects++) % 3]!;
        const last = seen.at(-1)?.id;
        const stream = await SseStream.open(`${conn.baseUrl}/api/v1/realtime/runs`, { ...bearer(key), ...(last ? { 'Last-Event-ID': last } : {}) });
        const quota = 1 + rand(600);
        try {
          // Pings wake the check every half second, so a reader also notices the end of the test.
          await stream.until((s) => s.messages.length >= quota || seen.length + s.messages.length >= total, 'its quota');
        } finally {
          stream.close();
          await stream.done;
        }
        seen.push(...stream.messages);
      }
      return seen;
    };
    // Settled at once, so a failure before they are awaited is reported by the assertions, not as unhandled.
    const readers = Array.from({ length: READERS }, (_, n) =>
      reader(n).then(
        (messages) => ({ messages }),
        (error: unknown) => ({ error }),
      ),
    );

    // Claimed in a queue: runner i gets one of the writers' runs (the slow run was queued first, so runner 0 takes it and claims again).
    const leases: { conn: Conn; leaseId: string }[] = [];
    for (let i = 0; i < WRITERS; i++) {
      const rc = runnerConn(conns[i % 3]!.baseUrl, runners[i]!);
      let c = await claim(rc, runners[i]!.id);
      if (c.run.id === slowRun.id) c = await claim(rc, runners[i]!.id);
      leases.push({ conn: rc, leaseId: c.lease.id });
    }
    let slowInserted!: () => void;
    const slowStarted = new Promise<void>((r) => (slowInserted = r));
    const slow = slowWriter(slowRun, 2000, slowInserted);
    await slowStarted;
    await Promise.all(
      leases.map(async ({ conn, leaseId }) => {
        for (let b = 0; b < BATCHES; b++) {
          const res = await appendEvents(conn, leaseId, 1, logs(b * PER_BATCH + 1, PER_BATCH));
          expect(res.status).toBe(200);
          expect(res.body.events.every((e) => e.cursor > 0)).toBe(true);
        }
      }),
    );
    await slow;

    // Every event of the application: the writers' 5,000, each run's status events, and the slow one.
    let stored: RunEvent[] = [];
    const expectedCount = WRITERS * (BATCHES * PER_BATCH + 2) + 2 + 1;
    for (let tries = 0; stored.length < expectedCount && tries < 100; tries++) {
      if (tries) await new Promise((r) => setTimeout(r, 100));
      stored = (await Promise.all(runs.map((r) => runEvents(conns[2]!, r.id)))).flat();
    }
    expect(stored.length).toBe(expectedCount);
    stored.sort((x, y) => x.cursor - y.cursor);
    expect(stored.map((e) => e.cursor)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
    // The slow writer's event was numbered after events committed while it was open: readers had been past its place.
    const held = stored.find((e) => e.runId === slowRun.id && e.type === 'log')!;
    const firstLog = stored.find((e) => e.type === 'log' && e.runId !== slowRun.id)!;
    expect(held.cursor).toBeGreaterThan(firstLog.cursor);
    total = stored.length;

    for (const outcome of await Promise.all(readers)) {
      if ('error' in outcome) throw outcome.error;
      const { messages } = outcome;
      expect(messages.map((m) => m.id)).toEqual(stored.map((e) => String(e.cursor)));
      expect(messages.map((m) => m.json)).toEqual(stored);
    }
  }, 120_000);
});
