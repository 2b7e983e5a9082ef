/** The clock, injectable so tests and timers never depend on the wall clock directly. */
export type Clock = { now(): number };
export const systemClock: Clock = { now: () => Date.now() };
let clock: Clock = systemClock;
export const setClock = (c: Clock) => {
  clock = c;
};
export const nowIso = () => new Date(clock.now()).toISOString();
export const isoAfter = (ms: number) => new Date(clock.now() + ms).toISOString();
export const nowMs = () => clock.now();
