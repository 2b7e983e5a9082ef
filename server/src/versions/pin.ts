import { ProblemError } from '../problems/problems.js';
import type { Versioning } from './versioning.js';

/** A version a client pins something to (an organization, a key, a webhook endpoint): it must be served (422 naming the field otherwise). */
export function assertPinnable(versioning: Versioning, version: string | null | undefined, pointer: string): void {
  if (version === null || version === undefined || versioning.isServed(version)) return;
  const detail = `No API version ${version} is served; the versions served are ${versioning.served().join(', ')}.`;
  throw new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });
}
