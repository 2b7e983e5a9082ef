import { Switchboard } from '../client.js';
import { echo, type HttpExecutorOptions } from './executors.js';
import { llmRuntime } from './llm.js';
import type { RunContext } from './run-handler.js';
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
 * agents with runtime `runner` and model `echo` get their input back; every other model runs on the
 * `llm` runtime, through the server's model gateway with the run's token (its http tools are called
 * under the same address rule as http agents). Give agents meant for your own runners labels this
 * one does not have.
 */
export function startBuiltinRunner(options: BuiltinRunnerOptions): Worker {
  const client = new Switchboard({ baseUrl: options.baseUrl, apiKey: options.token, fetch: options.fetch });
  const { allowPrivateAddresses, timeoutMs } = options;
  const work = { runnerId: options.runnerId, concurrency: options.concurrency ?? 4, onError: options.onError, http: { allowPrivateAddresses, timeoutMs } };
  const llm = llmRuntime({ baseUrl: options.baseUrl, fetch: options.fetch, allowPrivateAddresses, timeoutMs });
  return startWorker(client, work, (ctx: RunContext) => (ctx.agent.model === 'echo' ? echo(ctx) : llm(ctx)));
}
