import { defineStateMachine } from '../state-machine.js';

export type RunStatus = 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'expired';

/**
 * Every move a run may make, and nothing else (DOMAIN.md), by the status it leads to: queued runs
 * are claimed, cancelled or expire; running and waiting runs finish, wait or resume, or go back to
 * the queue when their runner is lost; terminal states never change. Many paths move a run (the
 * API, runners, the reaper), so `transitionRun` takes the target and each records `run.<status>`.
 */
export const runMachine = defineStateMachine({
  statuses: ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out', 'expired'] satisfies RunStatus[],
  refusal: (to, current) => `The run is ${current}; it cannot become ${to}.`,
  transitions: {
    queued: { from: ['running', 'waiting'], to: 'queued', event: 'run.queued' },
    running: { from: ['queued', 'waiting'], to: 'running', event: 'run.running' },
    // A queued run waits only when a budget has no room for it (it has never run).
    waiting: { from: ['running', 'queued'], to: 'waiting', event: 'run.waiting' },
    succeeded: { from: ['running'], to: 'succeeded', event: 'run.succeeded' },
    failed: { from: ['running', 'waiting'], to: 'failed', event: 'run.failed' },
    cancelled: { from: ['queued', 'running', 'waiting'], to: 'cancelled', event: 'run.cancelled' },
    timed_out: { from: ['running', 'waiting'], to: 'timed_out', event: 'run.timed_out' },
    expired: { from: ['queued'], to: 'expired', event: 'run.expired' },
  },
});

/** Statuses in which a run may hold a lease; one waiting on a person holds none (its lease_expires_at is null). */
export const LEASED: readonly RunStatus[] = ['running', 'waiting'];
