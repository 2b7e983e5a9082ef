import { hash } from 'node:crypto';
import { ProblemError } from '../problems/problems.js';

/** A strong validator over the resource's JSON representation. */
export const etagOf = (representation: object) => etagOfJson(JSON.stringify(representation));

/** The same, from the representation already serialised (the response body), so it is serialised once. */
export const etagOfJson = (json: string) => `"${hash('sha256', json, 'base64url').slice(0, 27)}"`;

/** The ETag of a representation shown with a secret once: the secret is not part of the resource. */
export const etagHeaderWithout = <T extends object>(body: T, secretField: keyof T) => {
  const { [secretField]: _secret, ...representation } = body;
  return { ETag: etagOf(representation) };
};

/** RFC 9110 If-Match: `*`, or a list of entity tags one of which must match (strong comparison). */
export function assertIfMatch(header: string | undefined, current: object): void {
  if (!header) return;
  if (header.trim() === '*') return;
  const tag = etagOf(current);
  const candidates = header.split(',').map((t) => t.trim());
  if (!candidates.includes(tag)) {
    throw new ProblemError('precondition-failed', `If-Match ${header} does not match the current ETag ${tag}.`);
  }
}
