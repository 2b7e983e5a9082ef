import { defineStateMachine } from '../state-machine.js';
import type { components } from '../../generated/openapi.js';

export type GoalStatus = components['schemas']['GoalStatus'];

/** The statuses a goal may move to another from, keyed by the status it moves to (the spec's GoalStatus states the same table). */
export const goalMachine = defineStateMachine({
  statuses: ['planned', 'active', 'achieved', 'cancelled'] as GoalStatus[],
  refusal: (to, current) => `A goal that is ${current} cannot move to ${to}.`,
  transitions: {
    planned: { from: ['active', 'cancelled'], to: 'planned' },
    active: { from: ['planned', 'achieved'], to: 'active' },
    achieved: { from: ['active'], to: 'achieved' },
    cancelled: { from: ['planned', 'active'], to: 'cancelled' },
  },
});
