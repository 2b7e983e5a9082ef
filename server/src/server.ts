import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Config } from './config/config.js';
import { openDatabase, type Db } from './db/database.js';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import { createApp } from './http/app.js';
import { purgeExpiredIdempotencyKeys } from './http/idempotency.js';
import { createRateLimiter } from './http/rate-limit.js';
import { allHandlers } from './resources/index.js';
import { loadBundledSpec } from './spec/load-spec.js';
import { extractOperations } from './spec/operations.js';
import { compileValidators } from './spec/validators.js';

export type RunningServer = {
  url: string;
  db: Db;
  logger: Logger;
  bootstrap: BootstrapResult;
  close(): Promise<void>;
};

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

/** Opens the database, compiles the contract, and listens. */
export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const spec = loadBundledSpec();
  const operations = extractOperations(spec.document);
  const validators = compileValidators(spec.document, operations);

  const db = await openDatabase(config.database);
  const redis = config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: false }) : undefined;
  redis?.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
  const bootstrapped = await bootstrap(db, spec.document.info.version, config.bootstrapKey);

  const { app } = createApp({
    config,
    db,
    logger,
    rateLimiter: createRateLimiter(config.rateLimits, redis),
    operations,
    validators,
    handlers: allHandlers(spec, async () => {
      await db.raw('select 1');
    }),
  });

  const server: Server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const purge = setInterval(() => {
    purgeExpiredIdempotencyKeys(db).catch((err: unknown) => logger.warn({ err }, 'idempotency purge failed'));
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    url: `http://${host}:${address.port}`,
    db,
    logger,
    bootstrap: bootstrapped,
    async close() {
      clearInterval(purge);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      redis?.disconnect();
      await db.destroy();
    },
  };
}
