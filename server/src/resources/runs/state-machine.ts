export type RunStatus = 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'expired';

/**
 * Every move a run may make, and nothing else (DOMAIN.md): queued runs are claimed, cancelled or
 * expire; running and waiting runs finish, wait or resume, or go back to the queue when their
 * runner is lost; terminal states never change.
 */
const ALLOWED: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['running', 'cancelled', 'expired'],
  running: ['succeeded', 'failed', 'cancelled', 'timed_out', 'waiting', 'queued'],
  waiting: ['running', 'failed', 'cancelled', 'timed_out', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  expired: [],
};

export const RUN_STATUSES = Object.keys(ALLOWED) as RunStatus[];

export const isTerminal = (status: RunStatus) => ALLOWED[status].length === 0;

export const canTransition = (from: RunStatus, to: RunStatus) => ALLOWED[from].includes(to);

/** Statuses in which a run holds a lease. */
export const LEASED: readonly RunStatus[] = ['running', 'waiting'];
