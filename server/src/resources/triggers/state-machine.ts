import { defineStateMachine } from '../state-machine.js';

/** A paused trigger refuses calls: it starts no runs until resumed. */
export const triggerMachine = defineStateMachine({
  statuses: ['active', 'paused'],
  refusal: (action, current) => `Cannot ${action} a trigger that is ${current}.`,
  transitions: {
    pause: { from: ['active'], to: 'paused', event: 'trigger.paused' },
    resume: { from: ['paused'], to: 'active', event: 'trigger.resumed' },
    invoke: { from: ['active'], refusal: (current) => `The trigger is ${current}; it starts no runs.` },
  },
});
