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
  /** When the server records traces, the run's trace (W3C): calls made for the run send it as the `traceparent` header. */
  traceparent?: string;
  /**
   * The values of the secrets the agent references (`agent.secrets`), by name, delivered with this
   * claim to this runner alone. Keep them in memory and out of logs: a value the run writes back
   * (events, output, messages, comments) is stored as `[secret:NAME]`.
   */
  secrets: Readonly<Record<string, string>>;
  /** For a run on a thread, the thread as the run starts: its state and latest messages (the run's own new ones last). */
  thread?: T.ClaimedThread | null;
  /** Appends a `log` event to the run. */
  log(message: string, level?: 'debug' | 'info' | 'warn' | 'error', data?: Record<string, unknown>): Promise<void>;
  /** Appends an event of another type (not `status`, `run.*`, `thread.message` or `approval.*`, which the server owns). */
  emit(type: string, data?: Record<string, unknown>): Promise<void>;
  /**
   * For a run that waited on a person, how the wait ended: the decision (approved with the payload
   * to act on, rejected with a note, an answer...) or the expiry; `null` otherwise.
   */
  resume: T.RunResumption | null;
  /**
   * Asks a person (an approval, or an answer with `kind: 'input'`) and ends this execution: the run
   * waits holding no lease, and this runner goes on with other runs. Once a person decides (or the
   * request expires under the `reject` policy) the run is claimed again and the handler runs again
   * from its start, with `resume` saying how the wait ended: keep what the run needs to go on in
   * its thread's state or its input, and ask only when `resume` does not answer already. It never
   * returns: it throws `RunWaiting`, which a handler that catches errors must let through.
   */
  requestApproval(request: T.ApprovalCreate): Promise<never>;
};

/** Thrown by `requestApproval` once the run waits: the worker completes nothing, as the run is no longer its own. */
export class RunWaiting extends Error {
  constructor(readonly approval: T.Approval) {
    super(`The run waits on approval ${approval.id}.`);
    this.name = 'RunWaiting';
  }
}

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
