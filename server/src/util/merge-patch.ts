type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7396: objects merge recursively, null removes a member, anything else replaces. */
export function mergePatch<T>(target: T, patch: unknown): T {
  if (!isObject(patch)) return patch as T;
  const result: Record<string, Json> = isObject(target) ? { ...(target as Record<string, Json>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
      continue;
    }
    // The patch's keys are the client's: own members only, and defined rather than assigned, so a
    // member named `__proto__` or `constructor` is data like any other.
    const merged = mergePatch<Json>(Object.hasOwn(result, key) ? result[key]! : null, value);
    Object.defineProperty(result, key, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  return result as T;
}
