import { defineConfig } from 'vitest/config';

/**
 * `npm run fuzz`: the spec-driven fuzz suite alone (it starts its own server), with many more
 * cases than under `npm test`: FUZZ_RUNS per operation, or as many as FUZZ_TIME_LIMIT_S allows.
 */
export default defineConfig({
  test: {
    include: ['fuzz/**/*.test.ts'],
    env: { FUZZ_TIME_LIMIT_S: process.env.FUZZ_RUNS ? '' : (process.env.FUZZ_TIME_LIMIT_S ?? '600') },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
