import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config/config.js';
import { ProblemError } from '../problems/problems.js';

/**
 * Failed logins counted per account and per address over a window (shared by replicas through
 * Redis when configured). Once either count is reached, every login for it is refused until the
 * window ends, whatever the password: a guesser learns nothing more, even by guessing right. A
 * success clears the account's count, never the address's.
 */
export type LoginLimiter = {
  /** 429 while the account or the address has used up its failures. */
  assertOpen(account: string, address: string): Promise<void>;
  failed(account: string, address: string): Promise<void>;
  succeeded(account: string): Promise<void>;
};

/**
 * `install`: what tells this installation's counts from another's that shares the Redis server
 * (the first organization's id): an email or an address is counted per installation.
 */
export function createLoginLimiter(config: Pick<Config, 'identity'>, redis: Redis | undefined, install = ''): LoginLimiter {
  const { perAccount, perAddress, windowSeconds } = config.identity.loginFailures;
  const limiter = (points: number, keyPrefix: string): RateLimiterAbstract => {
    const options = { points, duration: windowSeconds, keyPrefix };
    return redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) }) : new RateLimiterMemory(options);
  };
  const scope = install ? `${install}:` : '';
  const accounts = limiter(perAccount, `sb:login:${scope}account`);
  const addresses = limiter(perAddress, `sb:login:${scope}address`);
  return {
    async assertOpen(account, address) {
      const counts = await Promise.all([accounts.get(account), addresses.get(address)]);
      const used = [
        counts[0] && counts[0].consumedPoints >= perAccount ? counts[0] : null,
        counts[1] && counts[1].consumedPoints >= perAddress ? counts[1] : null,
      ];
      const waits = used.filter((res) => res !== null).map((res) => res.msBeforeNext);
      if (!waits.length) return;
      throw new ProblemError('rate-limited', 'Too many failed logins for this account or from this address; try again later.', {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) },
      });
    },
    async failed(account, address) {
      await Promise.all([accounts.penalty(account, 1), addresses.penalty(address, 1)]);
    },
    async succeeded(account) {
      await accounts.delete(account);
    },
  };
}
