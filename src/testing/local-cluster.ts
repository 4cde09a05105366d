import type { Dialect, ShardConfig } from '../config/shard-config.js'
import type { LocalClusterBackend } from './local-cluster-options.js'

/**
 * One server of a test cluster, as {@link LocalCluster.server} reports it.
 *
 * ```ts
 * const { pid, port, dataDir } = local.server('pg-0')
 * ```
 */
export interface ServerInfo {
  dialect: Dialect
  host: string
  port: number
  /** Process id of the server while it runs under this process's control; otherwise undefined. */
  pid: number | undefined
  /** Data directory (`local` backend only). */
  dataDir: string | undefined
  /** Id of the server's container (`containers` backend only). */
  containerId: string | undefined
  /** Whether the server was last started rather than killed or stopped. */
  running: boolean
  /** Every shard held by this server (several with `databasesPerServer`). */
  shardIds: string[]
}

/**
 * A running set of throwaway database servers and the shard configs that
 * point at them. Ids are `pg-0, pg-1, …` and `my-0, my-1, …`.
 *
 * ```ts
 * const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
 * const cluster = createCluster({ shards: local.shards })
 * await local.kill('pg-1')     // a real crash: SIGKILL
 * await local.restart('pg-1')  // same data dir and port; resolves once it accepts connections
 * await local.destroy()
 * ```
 */
export interface LocalCluster {
  readonly backend: LocalClusterBackend
  /** PostgreSQL shards first, then MySQL-protocol shards. */
  readonly shards: ShardConfig[]
  /** The server holding `shardId`. */
  server(shardId: string): ServerInfo
  /**
   * SIGKILLs the server holding `shardId` (and every shard it holds), and
   * resolves once its processes are gone. No-op when it is not running.
   */
  kill(shardId: string): Promise<void>
  /** Shuts the server holding `shardId` down gracefully. No-op when it is not running. */
  stop(shardId: string): Promise<void>
  /**
   * Starts the server holding `shardId` again on the same data and port and
   * resolves once it accepts connections. A running server is stopped first.
   */
  restart(shardId: string): Promise<void>
  /** Stops every server and removes every file the cluster made. Idempotent. */
  destroy(): Promise<void>
}
