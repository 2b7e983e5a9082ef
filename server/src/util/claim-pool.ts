import type { Logger } from 'pino';
import { untraced } from '../observability/tracing.js';

export type ClaimPool = {
  /** Claims into the free slots now (a wake-up: a new job, a timer); returns when this round of claiming ends. */
  fill(): Promise<void>;
  /** Claims until nothing more is due, and waits until every claimed item has been worked. */
  drain(): Promise<void>;
  /** Claims nothing more from the moment it is called, and waits for the work in hand. */
  stop(): Promise<void>;
};

/**
 * A fixed number of slots filled from a queue in the database: `claim(n)` takes at most n items
 * (each replica's claim must exclude the others', e.g. SKIP LOCKED or a lease), `work` runs one.
 * One claim runs at a time; a wake-up during it claims again after it, so no wake-up is lost and
 * no two claims race for the same free slots. A full claim is followed by another at once: the
 * queue may hold more than the slots took. Every `intervalMs` it claims anyway, for what no wake-up
 * announced (a retry come due, another replica's work whose claim expired).
 */
export function startClaimPool<T>(options: {
  slots: number;
  claim: (free: number) => Promise<T[]>;
  work: (item: T) => Promise<void>;
  intervalMs: number;
  logger: Logger;
  /** Names the work in logs, e.g. 'webhook delivery', and the item's fields a log line carries. */
  what: string;
  logFields: (item: T) => Record<string, unknown>;
}): ClaimPool {
  const { slots, claim, work, logger, what, logFields } = options;
  const inFlight = new Set<Promise<void>>();
  let filling: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  function start(item: T) {
    const running: Promise<void> = work(item)
      .catch((err: unknown) => logger.warn({ err, ...logFields(item) }, `${what} failed to run`))
      .finally(() => {
        inFlight.delete(running);
        void fill();
      });
    inFlight.add(running);
  }

  function fill(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (filling) {
      again = true;
      return filling;
    }
    // A wake-up comes from a request's commit: the work it claims is not part of that request's trace.
    filling = untraced(async () => {
      do {
        again = false;
        const free = slots - inFlight.size;
        if (free <= 0) return;
        const items = await claim(free);
        for (const item of items) start(item);
        if (items.length === free) again = true;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while this loop awaits
      } while (again && !stopped);
    })
      .catch((err: unknown) => logger.warn({ err }, `${what} claim failed`))
      .finally(() => {
        filling = undefined;
      });
    return filling;
  }

  const timer = setInterval(() => void fill(), options.intervalMs);
  timer.unref();

  return {
    fill,
    async drain() {
      await fill();
      while (inFlight.size > 0 || filling) {
        await Promise.all([...inFlight, filling]);
      }
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await filling;
      await Promise.all([...inFlight]);
    },
  };
}
