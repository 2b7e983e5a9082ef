import type * as T from '../generated/types.gen.js';

/** What a run handler gets: the claimed run, its agent and lease, and a way to report progress. */
export type RunContext = {
  run: T.Run;
  agent: T.ClaimedAgent;
  lease: T.Lease;
  /** Aborted when the run is lost (cancelled, re-queued, timed out) or the worker stops hard. */
  signal: AbortSignal;
  /** The claim's run token (`sbrt_`): the run's credential for the model gateway; it dies with the lease. */
  runToken?: string;
  /** For a run on a thread, the thread as the run starts: its state and latest messages (the run's own new ones last). */
  thread?: T.ClaimedThread | null;
  /** Appends a `log` event to the run. */
  log(message: string, level?: 'debug' | 'info' | 'warn' | 'error', data?: Record<string, unknown>): Promise<void>;
  /** Appends an event of another type (not `status` or `run.*`, which the server owns). */
  emit(type: string, data?: Record<string, unknown>): Promise<void>;
};

export type RunOutcome = {
  output?: Record<string, unknown>;
  usage?: T.RunUsage;
  costMicros?: number;
  /** For a run on a thread, the messages it adds to the thread (its answer), with the outcome. */
  messages?: T.ThreadMessageCreate[];
};

export type RunHandler = (ctx: RunContext) => Promise<RunOutcome>;

/** A failure with a code the run's error will carry (`http_error`, `model_error`, ...). */
export class RunFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
