import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./support/global-setup.ts'],
    include: [
      'readme/**/*.test.ts',
      'server/**/*.test.ts',
      'contract/**/*.test.ts',
      'sdk/**/*.test.ts',
      'cli/**/*.test.ts',
      'browser/**/*.test.ts',
      'fuzz/**/*.test.ts',
      'release/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites share one server process; files run in parallel workers against it.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
