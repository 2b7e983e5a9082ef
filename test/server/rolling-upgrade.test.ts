import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { buildServerAt, previousRelease, type OldServer } from '../support/old-release.js';
import { newBootstrapKey, onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import {
  appendEvents,
  bearer,
  call,
  claim,
  complete,
  getRun,
  logs,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  SseStream,
  type Conn,
} from './run-helpers.js';

/**
 * deploy/UPGRADING.md's promise: the release before the newest migration and this tree run against
 * one database while an upgrade rolls out (on PostgreSQL side by side; on SQLite, which one process
 * owns, one after the other and back), and neither loses or refuses what the other wrote.
 */
const release = previousRelease();

const appliedMigrations = async (database: TestDatabase): Promise<string[]> => {
  const db = inspectDatabase(database);
  try {
    return await db('knex_migrations').orderBy('name').pluck<string[]>('name');
  } finally {
    await db.destroy();
  }
};

/** The new release kept every migration the old one applied and added its own after them. */
const expectMigratedFrom = (before: string[], after: string[]) => {
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after.slice(before.length)).toContain(release.migration);
};

describe(`rolling upgrade from ${release.revision.slice(0, 12)} (the code before migration ${release.migration}) to this tree`, () => {
  let old: OldServer;
  let database: TestDatabase;
  const started: ServerProcess[] = [];
  const key = newBootstrapKey();
  const env = { SWITCHBOARD_BOOTSTRAP_KEY: key, RATE_LIMIT_RUN: '100000', RATE_LIMIT_WRITE: '100000', RATE_LIMIT_READ: '100000' };
  const start = async (entry?: string) => {
    const server = await startServerProcess(env, database, [], entry);
    started.push(server);
    return server;
  };

  beforeAll(async () => {
    old = buildServerAt(release.revision);
    database = await createTestDatabase();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
    await database?.drop();
    old?.cleanup();
  });

  const serveEachOther = async (older: Conn, newer: Conn) => {
    const a1 = await newAgent(older);
    const a2 = await newAgent(newer);
    for (const conn of [older, newer]) {
      for (const agent of [a1, a2]) expect((await call(conn, 'GET', `/api/v1/agents/${agent.id}`)).status).toBe(200);
    }
    // Runs created on each, claimed and completed through the other: the lease is the database's.
    const runner = await newRunner(newer);
    const runs = [await newRun(older, a2.id, { input: { on: 'old' } }), await newRun(newer, a1.id, { input: { on: 'new' } })];
    const stream = await SseStream.open(`${newer.baseUrl}/api/v1/realtime/runs/${runs[0]!.id}`, bearer(newer.key));
    try {
      for (const [i, via] of [older, newer].entries()) {
        const claimVia = runnerConn(via.baseUrl, runner);
        const finishVia = runnerConn((i ? older : newer).baseUrl, runner);
        const c = await claim(claimVia, runner.id);
        expect((await appendEvents(finishVia, c.lease.id, c.lease.fencingToken, logs(1, 3))).status).toBe(200);
        expect((await complete(finishVia, c.lease.id, { fencingToken: c.lease.fencingToken, status: 'succeeded', output: { i } })).status).toBe(200);
      }
      // The run created on the old replica, driven through both, streamed whole by the new one.
      await stream.untilEnd();
      expect(stream.messages.map((m) => m.json)).toEqual(await runEvents(older, runs[0]!.id));
    } finally {
      stream.close();
    }
    for (const run of runs) {
      for (const conn of [older, newer]) expect((await getRun(conn, run.id)).status).toBe('succeeded');
    }
    return { agents: [a1, a2], runs };
  };

  it.runIf(onPostgres)(
    'an old and a new replica serve one PostgreSQL database side by side, and the old one restarts after the new one migrated it',
    async () => {
      const oldReplica = await start(old.entry);
      const before = await appliedMigrations(database);
      expect(before).not.toContain(release.migration);
      const older: Conn = { baseUrl: oldReplica.url, key };
      const seeded = await newAgent(older);

      const newReplica = await start();
      expectMigratedFrom(before, await appliedMigrations(database));
      const newer: Conn = { baseUrl: newReplica.url, key };
      expect((await call(newer, 'GET', `/api/v1/agents/${seeded.id}`)).status).toBe(200);
      await serveEachOther(older, newer);

      // An old replica that restarts mid-rollout (a crash, a rescheduled pod) starts on the newer schema.
      await oldReplica.stop();
      const restarted = await start(old.entry);
      expect(restarted.output()).toContain('migrated by a newer release');
      await serveEachOther({ baseUrl: restarted.url, key }, newer);
    },
    180_000,
  );

  it.runIf(!onPostgres)(
    'a SQLite database upgraded in place keeps what the old release wrote, and the old release still runs on it',
    async () => {
      const first = await start(old.entry);
      const before = await appliedMigrations(database);
      expect(before).not.toContain(release.migration);
      const older: Conn = { baseUrl: first.url, key };
      const agent = await newAgent(older);
      const run = await newRun(older, agent.id);
      await first.stop();

      const upgraded = await start();
      expectMigratedFrom(before, await appliedMigrations(database));
      const newer: Conn = { baseUrl: upgraded.url, key };
      expect((await getRun(newer, run.id)).status).toBe('queued');
      const later = await newAgent(newer);
      await upgraded.stop();

      // Rolled back: the previous release runs on the migrated file and sees what the new one wrote.
      const rolledBack = await start(old.entry);
      expect(rolledBack.output()).toContain('migrated by a newer release');
      const back: Conn = { baseUrl: rolledBack.url, key };
      expect((await call(back, 'GET', `/api/v1/agents/${later.id}`)).status).toBe(200);
      expect((await getRun(back, run.id)).status).toBe('queued');
    },
    180_000,
  );
});
