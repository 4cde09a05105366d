import type { TestProject } from 'vitest/node'
import { startLocalCluster } from '../../src/testing/index.js'
// Brings the ProvidedContext keys into scope for project.provide.
import type {} from './shared-cluster.js'

/**
 * Starts the run's shared cluster (2 PostgreSQL + 2 MariaDB, fsync off) once,
 * before any test file, and hands its shard configs to the tests through
 * vitest's provide/inject; see test/support/shared-cluster.ts.
 *
 * ```ts
 * // vitest.config.ts
 * export default defineConfig({ test: { globalSetup: ['test/support/global-setup.ts'] } })
 * ```
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
  project.provide('shardtxSharedShards', local.shards)
  project.provide('shardtxSharedBackend', local.backend)
  return () => local.destroy()
}
