import { ProblemError } from '../problems/problems.js';

/**
 * One rule of a status machine: the statuses an action may be taken in, the status it leads to
 * (none: the action is allowed there but keeps the status, like an update) and the webhook event
 * the move records.
 */
export type Transition<S extends string> = {
  readonly from: readonly S[];
  readonly to?: S;
  readonly event?: string;
  /** The 409's detail when this action is refused, instead of the machine's. */
  readonly refusal?: (current: S) => string;
};

/**
 * The one way a resource states its status rules, so each later resource copies it: a table from
 * each action (or, for runs, each target status) to its rule, and one refusal message naming the
 * current status. A resource keeps its machine in `<resource>/state-machine.ts`:
 *
 *   export const agentMachine = defineStateMachine({
 *     statuses: ['active', 'paused', 'retired'],
 *     refusal: (action, current) => `Cannot ${action} an agent that is ${current}.`,
 *     transitions: { pause: { from: ['active'], to: 'paused', event: 'agent.paused' }, ... },
 *   });
 *   const { to, event } = agentMachine.assertTransition('pause', agent.status); // or 409 invalid-transition
 */
export function defineStateMachine<S extends string, const T extends Record<string, Transition<S>>>(machine: {
  statuses: readonly S[];
  transitions: T;
  /** `action` is the table's key, typed as a string: typed by the table, it would cost the table its literal types. */
  refusal: (action: string, current: S) => string;
}) {
  const { statuses, transitions, refusal } = machine;
  const canTransition = (action: keyof T & string, current: S) => transitions[action]!.from.includes(current);
  /** The 409 invalid-transition naming `current`, also for a row found changed when it is written. */
  const refuse = (action: keyof T & string, current: S) =>
    new ProblemError('invalid-transition', transitions[action]!.refusal?.(current) ?? refusal(action, current));
  const terminal = new Set(statuses.filter((status) => !Object.values(transitions).some((t) => t.to !== undefined && t.from.includes(status))));
  return {
    statuses,
    transitions,
    canTransition,
    refuse,
    /** The rule of `action` when `current` allows it; 409 invalid-transition naming `current` otherwise. */
    assertTransition<A extends keyof T & string>(action: A, current: S): T[A] {
      if (!canTransition(action, current)) throw refuse(action, current);
      return transitions[action];
    },
    /** No rule moves out of it: the status never changes again. */
    isTerminal: (status: S) => terminal.has(status),
  };
}
