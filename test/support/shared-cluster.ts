import { inject } from 'vitest'
import type { Dialect, ShardConfig } from '../../src/config/shard-config.js'
import type { LocalClusterBackend } from '../../src/testing/index.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Shards of the cluster that test/support/global-setup.ts starts once per run. */
    shardtxSharedShards: ShardConfig[]
    shardtxSharedBackend: LocalClusterBackend
  }
}

/**
 * The shards of the one cluster started for the whole test run: 2 PostgreSQL
 * (`pg-0`, `pg-1`) and 2 MariaDB (`my-0`, `my-1`) servers, `durable: false`,
 * one database `shardtx` each. Every call returns fresh copies, filtered to
 * `dialect` when given.
 *
 * Test files run in parallel against the same servers: name tables after
 * the test file (or use a random suffix) and drop them when done. Never kill
 * or restart these servers: a crash test starts its own cluster with
 * `startLocalCluster` from `src/testing/index.js`.
 *
 * ```ts
 * import { sharedShards } from '../support/shared-cluster.js'
 *
 * const cluster = createCluster({ shards: sharedShards() })
 * const pgOnly = sharedShards('postgres')
 * ```
 */
export function sharedShards(dialect?: Dialect): ShardConfig[] {
  const shards = inject('shardtxSharedShards')
  if (!shards) throw new Error('no shared cluster: run the tests through vitest.config.ts, whose globalSetup starts it')
  return structuredClone(shards).filter((shard) => dialect === undefined || shard.dialect === dialect)
}

/**
 * Which backend serves the shared cluster (`SHARDTX_TEST_BACKEND`, default `local`).
 *
 * ```ts
 * test.skipIf(sharedBackend() === 'env')('needs local servers', () => { … })
 * ```
 */
export function sharedBackend(): LocalClusterBackend {
  return inject('shardtxSharedBackend')
}
