import { defineStateMachine } from '../state-machine.js';
import type { components } from '../../generated/openapi.js';

export type TaskStatus = components['schemas']['TaskStatus'];

/** The statuses a task may move to another from, keyed by the status it moves to (the spec's TaskStatus states the same table). */
const transitions = {
  backlog: { from: ['todo', 'cancelled'], to: 'backlog' },
  todo: { from: ['backlog', 'in_progress', 'in_review', 'blocked', 'done'], to: 'todo' },
  in_progress: { from: ['todo', 'in_review', 'blocked'], to: 'in_progress' },
  in_review: { from: ['in_progress'], to: 'in_review' },
  done: { from: ['in_progress', 'in_review'], to: 'done' },
  blocked: { from: ['todo', 'in_progress'], to: 'blocked' },
  cancelled: { from: ['backlog', 'todo', 'in_progress', 'in_review', 'blocked'], to: 'cancelled' },
} as const satisfies Record<TaskStatus, { from: readonly TaskStatus[]; to: TaskStatus }>;

/** Where a task in `current` can go. */
const movesFrom = (current: TaskStatus) =>
  Object.entries(transitions)
    .filter(([, rule]) => (rule.from as readonly TaskStatus[]).includes(current))
    .map(([status]) => status);

export const taskMachine = defineStateMachine({
  statuses: Object.keys(transitions) as TaskStatus[],
  refusal: (to, current) => `A task that is ${current} cannot move to ${to}; from ${current} it can move to ${movesFrom(current).join(', ')}.`,
  transitions,
});

/** A blocker is open until it is done or cancelled. */
export const isOpen = (status: TaskStatus) => status !== 'done' && status !== 'cancelled';
