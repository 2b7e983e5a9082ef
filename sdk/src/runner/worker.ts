import type { Switchboard } from '../client.js';
import { SwitchboardError } from '../errors.js';
import type * as T from '../generated/types.gen.js';
import { httpExecutor, type HttpExecutorOptions } from './executors.js';
import { RunFailure, RunWaiting, type RunHandler } from './run-handler.js';

export type WorkOptions = {
  runnerId: string;
  /** How runs of `http` agents are called (the handler gets only the others). */
  http?: HttpExecutorOptions;
  /** Runs executed at once. */
  concurrency?: number;
  /** Long-poll length of each claim, in seconds (at most 30). */
  waitSeconds?: number;
  onError?: (err: unknown) => void;
};

export type Worker = {
  /** Stops claiming, lets runs in progress finish (up to `graceMs`, then aborts them), and resolves when all are done. */
  stop(graceMs?: number): Promise<void>;
  readonly done: Promise<void>;
};

const isLeaseLost = (err: unknown) => err instanceof SwitchboardError && err.code === 'lease-lost';
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Claims runs with the runner's own client (its `sbr_` token), executes them (agents with runtime
 * `http` by calling their URL, the others with `handler`), heartbeats their leases, and completes
 * or fails them; stops gracefully.
 */
export function startWorker(runnerClient: Switchboard, options: WorkOptions, handler: RunHandler): Worker {
  const http = httpExecutor(options.http);
  const stopping = new AbortController();
  const hardStop = new AbortController();
  const onError = options.onError ?? (() => {});

  async function execute(claim: T.Claim) {
    const { run, agent } = claim;
    // The run's calls join its trace when the server records traces.
    const client = claim.traceparent ? runnerClient.withHeaders({ traceparent: claim.traceparent }) : runnerClient;
    let lease = claim.lease;
    const lost = new AbortController();
    hardStop.signal.addEventListener('abort', () => lost.abort(), { once: true });
    // A resumed run has events from its earlier lease: its own are numbered after them.
    let runnerSeq = claim.lastRunnerSeq;
    const append = async (type: string, data: Record<string, unknown>) => {
      const event = { runnerSeq: ++runnerSeq, type, data: data as T.JsonObject };
      // A retried batch carries the same runnerSeq, so the server stores it once.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.runners.appendEvents(lease.id, { fencingToken: lease.fencingToken, events: [event] });
          return;
        } catch (err) {
          if (isLeaseLost(err) || attempt >= 3) throw err;
          await sleep(200 * attempt);
        }
      }
    };

    const leaseMs = Math.max(1000, Date.parse(lease.expiresAt) - Date.now());
    const beat = setInterval(
      () => {
        client.runners
          .heartbeat(lease.id, { fencingToken: lease.fencingToken })
          .then((result) => {
            lease = result.lease;
          })
          .catch((err: unknown) => {
            if (isLeaseLost(err)) lost.abort();
            else onError(err);
          });
      },
      Math.max(250, Math.floor(leaseMs / 3)),
    );

    try {
      const outcome = await (agent.runtime === 'http' ? http : handler)({
        run,
        agent,
        lease,
        signal: lost.signal,
        runToken: claim.runToken.token,
        traceparent: claim.traceparent,
        secrets: claim.secrets as Record<string, string>,
        thread: claim.thread,
        resume: claim.resume,
        log: (message, level = 'info', data = {}) => append('log', { level, message, ...data }),
        emit: (type, data = {}) => append(type, data),
        requestApproval: async (request) => {
          // Asked with the run's own token; one key per lease, so a retried request asks once.
          const approval = await client.withApiKey(claim.runToken.token).approvals.request(run.id, request, { idempotencyKey: `${lease.id}-approval` });
          throw new RunWaiting(approval);
        },
      });
      if (lost.signal.aborted) return;
      await client.runners.complete(lease.id, {
        fencingToken: lease.fencingToken,
        status: 'succeeded',
        output: (outcome.output ?? {}) as T.JsonPayload,
        usage: outcome.usage,
        costMicros: outcome.costMicros,
        ...(outcome.messages?.length ? { messages: outcome.messages } : {}),
      });
    } catch (err) {
      if (err instanceof RunWaiting || lost.signal.aborted || isLeaseLost(err)) return;
      const error =
        err instanceof RunFailure
          ? { code: err.code, message: err.message }
          : { code: 'runner_error', message: (err as Error | null | undefined)?.message ?? String(err) };
      await client.runners.complete(lease.id, { fencingToken: lease.fencingToken, status: 'failed', error }).catch((e: unknown) => {
        if (!isLeaseLost(e)) onError(e);
      });
    } finally {
      clearInterval(beat);
    }
  }

  async function slot() {
    while (!stopping.signal.aborted) {
      try {
        const claim = await runnerClient.runners.claim(options.runnerId, { wait: Math.min(30, options.waitSeconds ?? 30) }, { signal: stopping.signal });
        if (claim) await execute(claim);
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() aborts it while the claim awaited
        if (stopping.signal.aborted) return;
        onError(err);
        await sleep(1000, stopping.signal);
      }
    }
  }

  const done = Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, slot)).then(() => undefined);
  return {
    done,
    async stop(graceMs = 10_000) {
      stopping.abort();
      const timer = setTimeout(() => hardStop.abort(), graceMs);
      await done;
      clearTimeout(timer);
    },
  };
}
