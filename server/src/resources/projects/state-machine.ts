import { defineStateMachine } from '../state-machine.js';
import type { components } from '../../generated/openapi.js';

export type ProjectStatus = components['schemas']['ProjectStatus'];

/** The statuses a project may move to another from, keyed by the status it moves to (the spec's ProjectStatus states the same table). */
export const projectMachine = defineStateMachine({
  statuses: ['planned', 'active', 'paused', 'completed', 'cancelled'] as ProjectStatus[],
  refusal: (to, current) => `A project that is ${current} cannot move to ${to}.`,
  transitions: {
    planned: { from: ['cancelled'], to: 'planned' },
    active: { from: ['planned', 'paused', 'completed'], to: 'active' },
    paused: { from: ['active'], to: 'paused' },
    completed: { from: ['active'], to: 'completed' },
    cancelled: { from: ['planned', 'active', 'paused'], to: 'cancelled' },
  },
});
