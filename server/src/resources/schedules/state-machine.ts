import { defineStateMachine } from '../state-machine.js';

/** A paused schedule starts no runs and has no next due time; due times missed meanwhile are not made up. */
export const scheduleMachine = defineStateMachine({
  statuses: ['active', 'paused'],
  refusal: (action, current) => `Cannot ${action} a schedule that is ${current}.`,
  transitions: {
    pause: { from: ['active'], to: 'paused', event: 'schedule.paused' },
    resume: { from: ['paused'], to: 'active', event: 'schedule.resumed' },
  },
});
