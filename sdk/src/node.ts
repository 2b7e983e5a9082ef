import { hostname } from 'node:os';
import { Switchboard as BrowserSwitchboard, type SwitchboardOptions } from './client.js';
import type * as T from './generated/types.gen.js';
import type { HttpExecutorOptions } from './runner/executors.js';
import type { RunContext } from './runner/run-handler.js';
import { startWorker, type Worker } from './runner/worker.js';
import { nodeFetch } from './node-fetch.js';

export * from './index.js';

export type WorkOptions = {
  /** Registered under this name (default `sdk-<hostname>`). */
  name?: string;
  /** Only runs of agents whose labels are all among these. */
  labels?: string[];
  /** Runs executed at once (default 1). */
  concurrency?: number;
  /** How runs of `http` agents are called; your handler gets the others. */
  http?: HttpExecutorOptions;
  onError?: (err: unknown) => void;
};

/** What a work handler returns: the run's output, or nothing. */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- void in the union is what lets `async () => {}` be a handler
export type WorkHandler = (run: T.Run, ctx: RunContext) => Promise<Record<string, unknown> | void>;

type Work = (options: WorkOptions, handler: WorkHandler) => Promise<Worker & { runnerId: string }>;

/** The client for Node: everything of the browser client, plus `runners.work`. */
export class Switchboard extends BrowserSwitchboard {
  declare readonly runners: BrowserSwitchboard['runners'] & {
    /**
     * Registers a runner and works: claims runs, calls `handler` for each (with `ctx.log()` and a
     * signal that aborts when the run is lost), heartbeats, and completes or fails the run with what
     * the handler returns or throws. `stop()` finishes the runs in progress and stops.
     */
    work: Work;
  };

  constructor(options: SwitchboardOptions = {}) {
    options = { ...options, fetch: options.fetch ?? nodeFetch };
    super(options);
    const work: Work = async (workOptions, handler) => {
      const runner = await this.runners.register({ name: workOptions.name ?? `sdk-${hostname()}`, labels: workOptions.labels ?? [] });
      const client = new BrowserSwitchboard({ ...options, baseUrl: this.baseUrl, apiKey: runner.token });
      const worker = startWorker(
        client,
        { runnerId: runner.id, concurrency: workOptions.concurrency ?? 1, http: workOptions.http, onError: workOptions.onError },
        async (ctx) => ({ output: (await handler(ctx.run, ctx)) ?? {} }),
      );
      return Object.assign(worker, { runnerId: runner.id });
    };
    Object.assign(this.runners, { work });
  }
}
