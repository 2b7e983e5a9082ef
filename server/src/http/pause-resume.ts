import { ProblemError } from '../problems/problems.js';

export type PauseAction = 'pause' | 'resume';
type Switchable = 'active' | 'paused';

const PAUSE_RESUME = {
  pause: { from: 'active', to: 'paused' },
  resume: { from: 'paused', to: 'active' },
} as const satisfies Record<PauseAction, { from: Switchable; to: Switchable }>;

/** The status a pause or resume leads to; 409 invalid-transition, naming the current status, otherwise. */
export function pauseResumeTarget(action: PauseAction, current: string, noun: string): Switchable {
  const { from, to } = PAUSE_RESUME[action];
  if (current !== from) throw new ProblemError('invalid-transition', `Cannot ${action} a ${noun} that is ${current}.`);
  return to;
}
