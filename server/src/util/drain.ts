/**
 * A replica's stop as the balancer in front of it must see it (deploy/README.md, "Draining"):
 * readiness fails at once, long-polls and event streams end early with their usual answers, and
 * every response from then on closes its connection (http/drain.ts).
 */
export type Drain = {
  readonly draining: boolean;
  /** Aborted when the drain begins: waits and streams end on it. */
  readonly signal: AbortSignal;
  readonly begin: () => void;
};

export function createDrain(): Drain {
  const controller = new AbortController();
  return {
    get draining() {
      return controller.signal.aborted;
    },
    signal: controller.signal,
    begin: () => {
      controller.abort();
    },
  };
}
