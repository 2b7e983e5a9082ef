import { defineStateMachine } from '../state-machine.js';

/**
 * An agent's statuses: a paused agent takes no new runs until resumed (its schedules' due times
 * pass without one); retired is for good and keeps the agent as the record of its runs.
 * Schedules and triggers may be set up on a paused agent, not on a retired one.
 */
export const agentMachine = defineStateMachine({
  statuses: ['active', 'paused', 'retired'],
  refusal: (action, current) => `Cannot ${action} an agent that is ${current}.`,
  transitions: {
    pause: { from: ['active'], to: 'paused', event: 'agent.paused' },
    resume: { from: ['paused'], to: 'active', event: 'agent.resumed' },
    retire: { from: ['active', 'paused'], to: 'retired', event: 'agent.retired' },
    update: { from: ['active', 'paused'] },
    startRun: { from: ['active'], refusal: (current) => `The agent is ${current}; it accepts no new runs.` },
    planRuns: { from: ['active', 'paused'], refusal: (current) => `The agent is ${current}; it takes no more runs.` },
  },
});
