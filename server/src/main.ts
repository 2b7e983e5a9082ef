#!/usr/bin/env node
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config/config.js';
import { provisionBuiltinRunner } from './resources/runners/store.js';
import { startServer } from './server.js';
import { servePrimaryMetrics } from './server-metrics.js';
import { superviseWorkers, workerIndex } from './workers.js';
import { serverVersion } from './util/server-version.js';

const USAGE = 'Usage: switchboard-server [--with-runner] [--version]';

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--version')) {
    process.stdout.write(`${serverVersion}\n`);
    return;
  }
  const unknown = args.filter((a) => a !== '--with-runner');
  if (unknown.length) {
    process.stderr.write(`Unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
    process.exit(64);
  }
  let config;
  let server;
  try {
    config = loadConfig();
    if (cluster.isPrimary && config.workers > 1) {
      const logger = pino({ level: config.logLevel });
      // Before the workers start: a metrics port that cannot be opened stops the start.
      await servePrimaryMetrics(config.metrics, logger);
      superviseWorkers(config.workers, logger, config.shutdownGraceSeconds * 1000);
      return;
    }
    // Some configuration can only be checked once the server starts (a provider URL's address).
    server = await startServer(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const { logger } = server;
  logger.info({ url: server.url, version: serverVersion, database: config.database.client, redis: Boolean(config.redisUrl) }, 'Switchboard listening');
  // A configured bootstrap key is the operator's already; only a generated one is shown, once.
  if (server.bootstrap.created && !config.bootstrapKey) {
    // Printed once, to the terminal only: the key is not stored in a recoverable form.
    process.stdout.write(
      `\nSwitchboard is ready at ${server.url}\n` +
        `Admin API key (shown once, keep it safe):\n\n  ${server.bootstrap.secret}\n\n` +
        `Try: curl -H "Authorization: Bearer ${server.bootstrap.secret}" ${server.url}/api/v1/agents\n\n`,
    );
  } else if (server.bootstrap.created) {
    process.stdout.write(`\nSwitchboard is ready at ${server.url}; the admin key is SWITCHBOARD_BOOTSTRAP_KEY.\n\n`);
  }

  // --with-runner: the built-in runner in this process, so a fresh install can run an agent end to end.
  // Loaded only then: the runner and the SDK under it are memory a server without one does not spend.
  // With workers, the first one runs it: one built-in runner per server, not per process.
  const runner =
    args.includes('--with-runner') && !workerIndex()
      ? (await import('@switchboard/sdk/runner')).startBuiltinRunner({
          baseUrl: server.url,
          ...(await provisionBuiltinRunner(server.db, `${hostname()}:${new URL(server.url).port}`)),
          allowPrivateAddresses: config.runnerAllowPrivateAddresses,
          onError: (err) => logger.warn({ err: (err as Error).message }, 'built-in runner error'),
        })
      : undefined;
  if (runner) logger.info('built-in runner started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const graceMs = config.shutdownGraceSeconds * 1000;
    const force = setTimeout(() => process.exit(1), graceMs + 10_000);
    force.unref();
    const started = Date.now();
    // Readiness fails at once; the built-in runner still reaches this server while it stops.
    server.startDraining();
    await runner?.stop(5_000);
    const { forcedConnections } = await server.drain(graceMs);
    logger.info({ ms: Date.now() - started, forcedConnections }, 'drained');
    // Background workers stop once no request needs them.
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Switchboard failed to start: ${(err as Error | null | undefined)?.stack ?? String(err)}\n`);
  process.exit(1);
});
