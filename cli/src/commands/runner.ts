import { hostname } from 'node:os';
import type { Command } from 'commander';
import { Switchboard } from '@switchboard/sdk';
import { startBuiltinRunner } from '@switchboard/sdk/runner';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { integer } from '../input.js';
import { examples } from '../lists.js';

type RunnerFlags = { runnerId?: string; token?: string; name: string; labels: string; concurrency: number; allowPrivateAddresses: boolean };

/** How the user started this command: through npx (npm sets npm_command), or as installed. */
const invokedAs = () => (process.env.npm_command === 'exec' ? 'npx switchboard' : 'switchboard');

/**
 * How to start this runner again without registering another one. The token is printed whole, this
 * once (the API never shows it again), marked as the secret it is.
 */
const reuseHint = (runnerId: string, token: string, name: string, baseUrl: string) => `Registered runner ${runnerId} (${name}).

SECRET, shown only this once: the runner's token. To start this same runner again later, run:

  SWITCHBOARD_RUNNER_ID=${runnerId} SWITCHBOARD_RUNNER_TOKEN=${token} ${invokedAs()} runner --base-url ${baseUrl}

Keep the token like a password: anyone with it can claim this application's runs.

`;

/** `switchboard runner`: the built-in runner, in this process. */
export function registerRunner(program: Command, ctx: Context) {
  examples(
    program
      .command('runner')
      .description('Start the built-in runner: executes agents with runtime "http" and the "echo" model')
      .option('--runner-id <id>', 'use an already registered runner (env SWITCHBOARD_RUNNER_ID)', process.env.SWITCHBOARD_RUNNER_ID)
      .option('--token <token>', "that runner's sbr_ token (env SWITCHBOARD_RUNNER_TOKEN)", process.env.SWITCHBOARD_RUNNER_TOKEN)
      .option('--name <name>', 'name to register the runner under', `builtin-${hostname()}`)
      .option('--labels <labels>', 'comma-separated labels to register with', '')
      .option('--concurrency <n>', 'runs executed at once', integer(1, 256), 4)
      .option('--allow-private-addresses', 'let http agents call private, loopback and link-local addresses', false)
      .addHelpText(
        'after',
        '\nWithout --runner-id and --token, registers a new runner with the application key (--api-key, SWITCHBOARD_API_KEY or the profile).',
      ),
    [
      'switchboard runner --api-key sbk_...                    register a runner and start working',
      'switchboard runner --labels gpu,eu --concurrency 8 --api-key sbk_...',
      'switchboard runner --runner-id runner_... --token sbr_...   reuse a registered runner',
    ],
  ).action(async (opts: RunnerFlags) => {
    const { baseUrl, apiKey, appId } = ctx.settings();
    let { runnerId, token } = opts;
    if (!runnerId || !token) {
      if (!apiKey) throw new UsageError('Give --api-key to register a runner, or --runner-id and --token to reuse one.');
      const labels = opts.labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean);
      const registered = await new Switchboard({ baseUrl, apiKey, appId }).runners.register({ name: opts.name, labels });
      ({ id: runnerId, token } = registered);
      process.stderr.write(reuseHint(runnerId, token, opts.name, baseUrl));
    }
    const worker = startBuiltinRunner({
      baseUrl,
      runnerId,
      token,
      concurrency: opts.concurrency,
      allowPrivateAddresses: opts.allowPrivateAddresses,
      onError: (err) => process.stderr.write(`runner: ${(err as Error).message}\n`),
    });
    const stop = () => void worker.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Said once the signals are handled: whoever reads it may stop the runner at once.
    process.stderr.write(`Runner ${runnerId} is waiting for runs at ${baseUrl} (Ctrl-C to stop).\n`);
    await worker.done;
  });
}
