#!/usr/bin/env node
import { hostname } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { Switchboard } from './client.js';
import { SwitchboardError } from './errors.js';
import { startBuiltinRunner } from './runner/builtin.js';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be a whole number from 1 to 256');
  return n;
};

const program = new Command()
  .name('switchboard')
  .description('Command-line client of the Switchboard API')
  .option('--base-url <url>', 'API base URL (env SWITCHBOARD_BASE_URL)', process.env.SWITCHBOARD_BASE_URL ?? 'http://127.0.0.1:3000');

program
  .command('runner')
  .description('Start the built-in runner: executes agents with runtime "http" and the "echo" model')
  .option('--api-key <key>', 'application key used to register the runner (env SWITCHBOARD_API_KEY)', process.env.SWITCHBOARD_API_KEY)
  .option('--runner-id <id>', 'use an already registered runner (env SWITCHBOARD_RUNNER_ID)', process.env.SWITCHBOARD_RUNNER_ID)
  .option('--token <token>', "that runner's sbr_ token (env SWITCHBOARD_RUNNER_TOKEN)", process.env.SWITCHBOARD_RUNNER_TOKEN)
  .option('--name <name>', 'name to register the runner under', `builtin-${hostname()}`)
  .option('--labels <labels>', 'comma-separated labels to register with', '')
  .option('--concurrency <n>', 'runs executed at once', positiveInt, 4)
  .option('--allow-private-addresses', 'let http agents call private, loopback and link-local addresses', false)
  .addHelpText(
    'after',
    `
Examples:
  $ switchboard runner --api-key sbk_...                    register a runner and start working
  $ switchboard runner --labels gpu,eu --concurrency 8 --api-key sbk_...
  $ switchboard runner --runner-id runner_... --token sbr_...   reuse a registered runner`,
  )
  .action(async (opts: { apiKey?: string; runnerId?: string; token?: string; name: string; labels: string; concurrency: number; allowPrivateAddresses: boolean }) => {
    const baseUrl = program.opts<{ baseUrl: string }>().baseUrl;
    let { runnerId, token } = opts;
    if (!runnerId || !token) {
      if (!opts.apiKey) program.error('Give --api-key to register a runner, or --runner-id and --token to reuse one.');
      const labels = opts.labels.split(',').map((l) => l.trim()).filter(Boolean);
      const registered = await new Switchboard({ baseUrl, apiKey: opts.apiKey }).runners.register({ name: opts.name, labels });
      ({ id: runnerId, token } = registered);
      process.stderr.write(`Registered runner ${runnerId} (${opts.name}); reuse it with --runner-id ${runnerId} --token <the token>.\n`);
    }
    const worker = startBuiltinRunner({
      baseUrl,
      runnerId: runnerId!,
      token: token!,
      concurrency: opts.concurrency,
      allowPrivateAddresses: opts.allowPrivateAddresses,
      onError: (err) => process.stderr.write(`runner: ${(err as Error).message}\n`),
    });
    process.stderr.write(`Runner ${runnerId} is waiting for runs at ${baseUrl} (Ctrl-C to stop).\n`);
    const stop = () => void worker.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await worker.done;
  });

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof SwitchboardError ? `${err.message} (request ${err.requestId})` : (err as Error).message;
  process.stderr.write(`switchboard: ${message}\n`);
  process.exit(1);
});
