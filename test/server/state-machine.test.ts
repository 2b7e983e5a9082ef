import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../server/src/problems/problems.js';
import { agentMachine } from '../../server/src/resources/agents/state-machine.js';
import { runMachine } from '../../server/src/resources/runs/state-machine.js';
import { defineStateMachine } from '../../server/src/resources/state-machine.js';

/**
 * The table-driven status machines on their own: what a table allows, the 409 naming the current
 * status, and the refusals clients read today (the API tests reach them one request at a time).
 */
const refusalOf = (attempt: () => unknown) => {
  try {
    attempt();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemError);
    return { code: (err as ProblemError).code, detail: (err as ProblemError).detail };
  }
  throw new Error('no refusal');
};

describe('defineStateMachine', () => {
  const door = defineStateMachine({
    statuses: ['open', 'closed', 'walled'],
    refusal: (action, current) => `Cannot ${action} a door that is ${current}.`,
    transitions: {
      close: { from: ['open'], to: 'closed', event: 'door.closed' },
      open: { from: ['closed'], to: 'open', event: 'door.opened' },
      wallUp: { from: ['open', 'closed'], to: 'walled', refusal: (current) => `The door is ${current} already.` },
      paint: { from: ['open', 'closed'] },
    },
  });

  it('gives the rule of an allowed action, its target and event included', () => {
    expect(door.assertTransition('close', 'open')).toEqual({ from: ['open'], to: 'closed', event: 'door.closed' });
    expect(door.canTransition('paint', 'closed')).toBe(true);
  });

  it("refuses any other with 409 invalid-transition naming the current status, in the rule's own words when it has some", () => {
    expect(door.canTransition('open', 'walled')).toBe(false);
    expect(refusalOf(() => door.assertTransition('open', 'walled'))).toEqual({ code: 'invalid-transition', detail: 'Cannot open a door that is walled.' });
    expect(refusalOf(() => door.assertTransition('paint', 'walled'))).toEqual({ code: 'invalid-transition', detail: 'Cannot paint a door that is walled.' });
    expect(refusalOf(() => door.assertTransition('wallUp', 'walled'))).toEqual({ code: 'invalid-transition', detail: 'The door is walled already.' });
  });

  it('calls a status terminal when no move leaves it: a rule that keeps the status does not count', () => {
    expect(door.statuses.filter((s) => door.isTerminal(s))).toEqual(['walled']);
  });
});

describe('the resources machines', () => {
  it('runs: the terminal statuses, and the refusals naming the status and the target', () => {
    expect(runMachine.statuses.filter((s) => runMachine.isTerminal(s))).toEqual(['succeeded', 'failed', 'cancelled', 'timed_out', 'expired']);
    expect(refusalOf(() => runMachine.assertTransition('cancelled', 'succeeded')).detail).toBe('The run is succeeded; it cannot become cancelled.');
  });

  it('agents: pausing a retired agent, updating it, running a paused one', () => {
    expect(refusalOf(() => agentMachine.assertTransition('pause', 'retired')).detail).toBe('Cannot pause an agent that is retired.');
    expect(refusalOf(() => agentMachine.assertTransition('update', 'retired')).detail).toBe('Cannot update an agent that is retired.');
    expect(refusalOf(() => agentMachine.assertTransition('startRun', 'paused')).detail).toBe('The agent is paused; it accepts no new runs.');
    expect(refusalOf(() => agentMachine.assertTransition('planRuns', 'retired')).detail).toBe('The agent is retired; it takes no more runs.');
    expect(agentMachine.canTransition('planRuns', 'paused')).toBe(true);
  });
});
