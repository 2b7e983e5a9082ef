import type { Context } from 'koa';
import type { OperationSpec } from '../../spec/operations.js';
import { ProblemError } from '../../problems/problems.js';
import type { RateLimiter } from '../rate-limit.js';
import type { Caller } from './authenticate.js';

/**
 * Budgets are per credential (a run token's is its own, per lease; a session's its own); an inbound hook's is its
 * trigger's; a failed credential shares its address's.
 */
export function budgetKey(ctx: Context, op: OperationSpec, caller: Caller): string {
  if (caller.key) return `key:${caller.key.keyId}`;
  // A person's tokens and sessions each have their own budget, like keys.
  if (caller.user) return `${caller.user.kind}:${caller.user.credentialId}`;
  if (caller.endUser) return `end-user:${caller.endUser.endUserId}`;
  if (caller.runner) return `runner:${caller.runner.runnerId}`;
  if (caller.run) return `run-token:${caller.run.leaseId}`;
  const triggerId = op.credential === 'trigger' ? (ctx as unknown as { params: { triggerId?: string } }).params.triggerId : undefined;
  return triggerId ? `trigger:${triggerId}` : `ip:${ctx.ip}`;
}

/** Spends one from the caller's budget of the operation's category and says what is left; 429 when it is used up. */
export async function rateLimit(ctx: Context, op: OperationSpec, limiter: RateLimiter, caller: Caller): Promise<void> {
  const category = op.rateCategory;
  if (!category) return;
  const decision = await limiter.consume(budgetKey(ctx, op, caller), category);
  ctx.set(decision.headers);
  if (!decision.allowed) {
    throw new ProblemError('rate-limited', `The ${category} budget of this credential is used up for this minute.`, {
      headers: { 'Retry-After': String(decision.retryAfterSeconds) },
    });
  }
}
