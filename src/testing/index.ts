/**
 * `shardtx/testing`: throwaway PostgreSQL and MariaDB shards for tests,
 * benchmarks and demos.
 *
 * ```ts
 * import { startLocalCluster } from 'shardtx/testing'
 * const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
 * ```
 *
 * @module
 */
export { startLocalCluster } from './start-local-cluster.js'
export type { LocalCluster, ServerInfo } from './local-cluster.js'
export type { LocalClusterBackend } from './local-cluster-backend.js'
export type { LocalClusterOptions } from './local-cluster-options.js'
export type { PartitionMode, PartitionOptions } from './faults/fault-options.js'
export {
  LocalClusterError,
  MissingServerBinaryError,
  UnsupportedByBackendError,
  type LocalClusterErrorCode,
} from './local-cluster-errors.js'
