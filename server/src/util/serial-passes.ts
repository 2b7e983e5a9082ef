/**
 * Passes of `run`, one at a time. `pass()` answers with a pass that starts after the call (one
 * already running may have read before the caller's commit): callers that arrive during a pass
 * share the next one, so under load one pass serves many of them.
 */
export function serialPasses<T>(run: () => Promise<T>): { pass: () => Promise<T>; idle: () => Promise<void> } {
  let current: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const pass = (): Promise<T> => {
    if (!current) {
      current = run().finally(() => {
        current = undefined;
      });
      return current;
    }
    queued ??= current
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return pass();
      });
    return queued;
  };
  const idle = async () => {
    await Promise.allSettled([current, queued]);
  };
  return { pass, idle };
}
