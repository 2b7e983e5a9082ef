#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/config.js';
import { startServer } from './server.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const server = await startServer(config);
  const { logger } = server;
  logger.info({ url: server.url, database: config.database.client, redis: Boolean(config.redisUrl) }, 'Switchboard listening');
  if (server.bootstrap.created) {
    // Printed once, to the terminal only: the key is not stored in a recoverable form.
    process.stdout.write(
      `\nSwitchboard is ready at ${server.url}\n` +
        `Admin API key (shown once, keep it safe):\n\n  ${server.bootstrap.secret}\n\n` +
        `Try: curl -H "Authorization: Bearer ${server.bootstrap.secret}" ${server.url}/api/v1/agents\n\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Switchboard failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
