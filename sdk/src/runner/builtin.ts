import { Switchboard } from '../client.js';
import { echo, type HttpExecutorOptions } from './executors.js';
import { RunFailure, type RunContext } from './run-handler.js';
import { startWorker, type Worker } from './worker.js';

export type BuiltinRunnerOptions = HttpExecutorOptions & {
  baseUrl: string;
  runnerId: string;
  /** The runner's `sbr_` token. */
  token: string;
  concurrency?: number;
  fetch?: typeof fetch;
  onError?: (err: unknown) => void;
};

/**
 * The runner that ships with Switchboard: agents with runtime `http` are called at their URL;
 * agents with runtime `runner` and model `echo` get their input back. Anything else is failed with
 * `unsupported_model`, so give agents meant for your own runners labels this one does not have.
 */
export function startBuiltinRunner(options: BuiltinRunnerOptions): Worker {
  const client = new Switchboard({ baseUrl: options.baseUrl, apiKey: options.token, fetch: options.fetch });
  const { allowPrivateAddresses, timeoutMs } = options;
  const work = { runnerId: options.runnerId, concurrency: options.concurrency ?? 4, onError: options.onError, http: { allowPrivateAddresses, timeoutMs } };
  return startWorker(client, work, async (ctx: RunContext) => {
    if (ctx.agent.model === 'echo') return echo(ctx);
    throw new RunFailure('unsupported_model', `The built-in runner runs the "echo" model and http agents, not "${ctx.agent.model}".`);
  });
}
