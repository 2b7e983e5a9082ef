import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBootstrapKey, onPostgres, replicaBuses, startReplicas, type Replicas, type ServerProcess } from '../support/server-process.js';
import {
  appendEvents,
  bearer,
  call,
  claim,
  complete,
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
} from './run-helpers.js';

/**
 * Two server processes on one PostgreSQL database: what producers do on A reaches a consumer
 * streaming from B, through Redis or, without it, PostgreSQL's LISTEN/NOTIFY.
 */
const suite = onPostgres ? describe : describe.skip;
const title = onPostgres
  ? 'two replicas on one PostgreSQL database'
  : 'two replicas on one PostgreSQL database (skipped: DATABASE_URL is not postgres://, and SQLite cannot be shared by two processes)';

suite(title, () => {
  if (onPostgres && !process.env.REDIS_URL) it.skip('the Redis bus (skipped: REDIS_URL is not set)', () => {});

  for (const bus of replicaBuses) {
    describe(bus.name, () => {
      let replicas: Replicas;
      let a: ServerProcess;
      let b: ServerProcess;
      const key = newBootstrapKey();

      beforeAll(async () => {
        const env = {
          SWITCHBOARD_BOOTSTRAP_KEY: key,
          REDIS_URL: bus.redis,
          RATE_LIMIT_RUN: '100000',
          RATE_LIMIT_WRITE: '100000',
          RATE_LIMIT_READ: '100000',
        };
        replicas = await startReplicas(2, env);
        [a, b] = replicas.servers as [ServerProcess, ServerProcess];
      }, 60_000);

      afterAll(async () => {
        await replicas?.stop();
      });

      it('the same key works on both', async () => {
        for (const s of [a, b]) expect((await call({ baseUrl: s.url, key }, 'GET', '/api/v1/runs')).status).toBe(200);
      });

      it('a consumer on B receives 100% of the events of 20 runs produced on A, in order, without duplicates', async () => {
        const onA: Conn = { baseUrl: a.url, key };
        const agent = await newAgent(onA);
        const runners = await Promise.all([newRunner(onA), newRunner(onA)]);
        const consumer = await SseStream.open(`${b.url}/api/v1/realtime/runs`, bearer(key));
        // A run of B's own, seen on B's stream, shows the consumer is live before production starts.
        const warmup = await newRun({ baseUrl: b.url, key }, agent.id);
        await consumer.until((s) => s.messages.some((m) => m.json.runId === warmup.id), 'the warm-up run');
        await call({ baseUrl: b.url, key }, 'POST', `/api/v1/runs/${warmup.id}/cancel`);
        const start = Number(consumer.messages[0]!.id) - 1;

        try {
          const runs: Run[] = [];
          // Two runners work at once, so events of different runs interleave.
          for (let i = 0; i < 20; i++) runs.push(await newRun(onA, agent.id, { input: { i } }));
          await Promise.all(
            runners.map(async (runner) => {
              const rc = runnerConn(a.url, runner);
              for (;;) {
                const res = await call(rc, 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`);
                if (res.status === 204) return;
                expect(res.status).toBe(200);
                const { lease } = res.body;
                for (let j = 0; j < 3; j++) {
                  expect((await appendEvents(rc, lease.id, lease.fencingToken, logs(j * 4 + 1, 4))).status).toBe(200);
                }
                expect((await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
              }
            }),
          );

          const stored: RunEvent[] = [];
          stored.push(...(await runEvents(onA, warmup.id)));
          for (const r of runs) stored.push(...(await runEvents(onA, r.id)));
          stored.sort((x, y) => x.cursor - y.cursor);
          // 20 runs x (queued, running, 12 logs, succeeded) + the warm-up's 2.
          expect(stored.length).toBe(20 * 15 + 2);
          expect(stored.map((e) => e.cursor)).toEqual(Array.from({ length: stored.length }, (_, i) => start + 1 + i));

          await consumer.untilCount(stored.length);
          expect(consumer.messages.map((m) => m.id)).toEqual(stored.map((e) => String(e.cursor)));
          expect(consumer.messages.map((m) => m.json)).toEqual(stored);
          // Nothing else came: one more event on A is the very next message on B.
          const sentinel = await newRun(onA, agent.id);
          await consumer.untilCount(stored.length + 1);
          expect(consumer.messages.length).toBe(stored.length + 1);
          expect(consumer.messages[stored.length]!.json).toMatchObject({ runId: sentinel.id, cursor: start + stored.length + 1 });
          await call(onA, 'POST', `/api/v1/runs/${sentinel.id}/cancel`);
        } finally {
          consumer.close();
        }
      }, 60_000);

      it('a single-run stream on B follows a run driven on A to its end', async () => {
        const onA: Conn = { baseUrl: a.url, key };
        const agent = await newAgent(onA);
        const runner = await newRunner(onA);
        const run = await newRun(onA, agent.id);
        const s = await SseStream.open(`${b.url}/api/v1/realtime/runs/${run.id}`, bearer(key));
        try {
          const rc = runnerConn(a.url, runner);
          const c = await claim(rc, runner.id);
          for (let j = 0; j < 5; j++) expect((await appendEvents(rc, c.lease.id, 1, logs(j * 10 + 1, 10))).status).toBe(200);
          expect((await complete(rc, c.lease.id, { fencingToken: 1, status: 'succeeded', output: {} })).status).toBe(200);
          await s.untilEnd();
          expect(s.messages.map((m) => m.json)).toEqual(await runEvents(onA, run.id));
          expect(s.messages.map((m) => Number(m.id))).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
        } finally {
          s.close();
        }
      });
    });
  }
});
