import { defineConfig } from 'vitest/config'

/**
 * One shared throwaway cluster for the whole run (see test/support/global-setup.ts),
 * at most two test files at a time on the 2-core machines this runs on.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Forks, not threads: a worker ends with SIGTERM, which the cluster's exit
    // cleanup catches; worker threads get no signals and no 'exit' event to clean up on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
})
