import type { Logger } from 'pino';
import { loadConfig, setClock, startServer, systemClock, type Clock, type RunningServer } from '@switchboard/server';
import { createTestDatabase, masterKeyFor, type TestDatabase } from './databases.js';
import { newBootstrapKey } from './server-process.js';

export type InProcessServer = {
  server: RunningServer;
  baseUrl: string;
  adminKey: string;
  /** The server's master key (base64), for a second server on the same database. */
  masterKey: string;
  stop(): Promise<void>;
};

/**
 * A server in the test's own process, on a fresh database, running on the test's clock: time
 * moves only when the test moves it, and the periodic jobs (reaper, scheduler) run only when the
 * test calls them (their timers are set to a minute). The clock is process-global, so a file
 * using this runs its tests one after the other. `logger` receives the server's logs (silent without it).
 */
export async function startInProcessServer(clock: Clock, env: Record<string, string> = {}, logger?: Logger): Promise<InProcessServer> {
  setClock(clock);
  const db: TestDatabase = await createTestDatabase();
  const adminKey = newBootstrapKey();
  const masterKey = env.SWITCHBOARD_MASTER_KEY ?? masterKeyFor(db);
  const server = await startServer(
    loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      SWITCHBOARD_BOOTSTRAP_KEY: adminKey,
      SWITCHBOARD_MASTER_KEY: masterKey,
      LOG_LEVEL: 'silent',
      REAPER_INTERVAL_MS: '60000',
      SCHEDULER_INTERVAL_MS: '60000',
      WEBHOOK_INTERVAL_MS: '60000',
      RATE_LIMIT_RUN: '100000',
      RATE_LIMIT_WRITE: '100000',
      RATE_LIMIT_READ: '100000',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...env,
    }),
    logger,
  );
  return {
    server,
    baseUrl: server.url,
    adminKey,
    masterKey,
    async stop() {
      setClock(systemClock);
      await server.close();
      await db.drop();
    },
  };
}
