import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Two projects. `unit`: files that touch no server (the ring, id codecs, config
 * validation, the model check), run without starting any database, with
 * `npm run test:unit`. `integration`: everything else, against one shared
 * throwaway cluster for the whole run (see test/support/global-setup.ts).
 * `npm test` runs both, at most two test files at a time on the 2-core
 * machines this runs on.
 */
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/sharding/**/*.test.ts',
  'test/model/**/*.test.ts',
  'test/cli/secret-redactor.test.ts',
  'test/sharded-tables/row-order.test.ts',
  'test/sharded-tables/table-declaration.test.ts',
]

export default defineConfig({
  test: {
    // Forks, not threads: a worker ends with SIGTERM, which the cluster's exit
    // cleanup catches; worker threads get no signals and no 'exit' event to clean up on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
})
