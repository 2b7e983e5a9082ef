import type { Context } from 'koa';
import type { Db, Executor } from '../../db/database.js';
import type { OperationSpec } from '../../spec/operations.js';
import { fingerprint, idempotencyClaim, IdempotencyRace, storedResponse, storeResponse, type IdempotencyClaim, type StoredResponse } from '../idempotency.js';
import { ProblemError } from '../../problems/problems.js';
import { isJsonBody, withEtag, type Reply, type Result } from './respond.js';

/** The request's claim on its Idempotency-Key: on an operation that honours one, for an authenticated caller who sent it, among `scope`'s keys. */
export function claimOf(ctx: Context, op: OperationSpec, scope: string | undefined, raw: Buffer | undefined): IdempotencyClaim | undefined {
  const header = op.idempotent ? ctx.get('idempotency-key') : '';
  return header && scope ? idempotencyClaim(scope, header, fingerprint(ctx.method, ctx.path, raw)) : undefined;
}

/** A stored response, sent again as it was the first time. */
export const replayOf = (stored: StoredResponse): Reply => ({
  result: { status: stored.status, body: JSON.parse(stored.body), headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } },
  json: stored.body,
});

/** Stores the result under the claim, in the transaction of the writes it reports; the body as stored is the body sent. */
export async function storeResult(executor: Executor, claim: IdempotencyClaim, op: OperationSpec, result: Result): Promise<Reply> {
  const json = JSON.stringify(result.body ?? null);
  const jsonBody = isJsonBody(result.body);
  await storeResponse(executor, claim, { status: result.status, headers: withEtag(op, result, jsonBody ? json : undefined), body: json });
  return { result, json: jsonBody ? json : undefined };
}

/**
 * After a failed attempt: when a concurrent request with the same key committed first (its writes
 * rolled back, see `storeResponse`), that request's response answers this one too. Any other
 * failure is thrown on.
 */
export async function replayRaceWinner(err: unknown, db: Db, claim: IdempotencyClaim | undefined): Promise<Reply> {
  if (!(err instanceof IdempotencyRace) || !claim) throw err;
  const winner = await storedResponse(db, claim);
  if (!winner) {
    throw new ProblemError('idempotency-in-flight', 'A request with this Idempotency-Key was being processed at the same time; retry to get its result.');
  }
  return replayOf(winner);
}
