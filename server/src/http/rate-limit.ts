import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateCategory } from '../spec/operations.js';

const WINDOW_SECONDS = 60;

export type RateDecision = { allowed: boolean; headers: Record<string, string>; retryAfterSeconds: number };

export type RateLimiter = { consume(credentialKey: string, category: RateCategory): Promise<RateDecision> };

/**
 * Per-credential budgets per category, in fixed one-minute windows. With Redis every replica draws
 * on one budget; the memory limiter stands in if Redis fails, so an outage degrades to per-replica limits.
 */
export function createRateLimiter(budgets: Record<RateCategory, number>, redis: Redis | undefined, install = ''): RateLimiter {
  const limiters = new Map<RateCategory, RateLimiterAbstract>();
  for (const [category, points] of Object.entries(budgets) as [RateCategory, number][]) {
    // Per installation (see createLoginLimiter): another one on the same Redis does not spend an address's budget here.
    const options = { points, duration: WINDOW_SECONDS, keyPrefix: `sb:rl:${install ? `${install}:` : ''}${category}` };
    limiters.set(
      category,
      redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) }) : new RateLimiterMemory(options),
    );
  }
  return {
    async consume(credentialKey, category) {
      const limiter = limiters.get(category)!;
      let res: RateLimiterRes;
      let allowed = true;
      try {
        res = await limiter.consume(credentialKey);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        res = err;
        allowed = false;
      }
      const resetSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      return {
        allowed,
        retryAfterSeconds: resetSeconds,
        headers: {
          'RateLimit-Policy': `"${category}";q=${budgets[category]};w=${WINDOW_SECONDS}`,
          RateLimit: `"${category}";r=${Math.max(0, res.remainingPoints)};t=${resetSeconds}`,
        },
      };
    },
  };
}
