import type { Dialect, ShardConfig } from '../config/shard-config.js'
import type { PartitionOptions } from './faults/fault-options.js'
import type { LocalClusterBackend } from './local-cluster-backend.js'

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
 * // with { faults: true }:
 * await local.partition('my-0', { mode: 'blackhole' }) // or 'reset'
 * await local.heal('my-0')
 * await local.destroy()
 * ```
 */
export interface LocalCluster {
  readonly backend: LocalClusterBackend
  /** PostgreSQL shards first, then MySQL-protocol shards. */
  readonly shards: ShardConfig[]
  /**
   * The server holding `shardId`.
   *
   * ```ts
   * const { pid, port, running } = local.server('pg-0')
   * ```
   */
  server(shardId: string): ServerInfo
  /**
   * SIGKILLs the server holding `shardId` (and every shard it holds), and
   * resolves once its processes are gone. No-op when it is not running.
   *
   * ```ts
   * await local.kill('my-0') // my-1 too, with databasesPerServer: 2
   * ```
   */
  kill(shardId: string): Promise<void>
  /**
   * Shuts the server holding `shardId` down gracefully. No-op when it is not running.
   *
   * ```ts
   * await local.stop('pg-1') // connections to pg-1 now fail; local.server('pg-1').running is false
   * ```
   */
  stop(shardId: string): Promise<void>
  /**
   * Starts the server holding `shardId` again on the same data and port and
   * resolves once it accepts connections. A running server is stopped first.
   *
   * ```ts
   * await local.kill('pg-1')
   * await local.restart('pg-1') // its prepared branches are back, waiting for recovery
   * ```
   */
  restart(shardId: string): Promise<void>
  /**
   * Breaks the network path to `shardId` (this shard only, even when its server
   * holds others). Needs `faults: true`. Resolves once existing connections are
   * dealt with:
   * - `blackhole` (default): every byte is dropped both ways and sockets stay
   *   open, like a firewall or NAT that forgot the flow. New connections are
   *   accepted and never answered.
   * - `reset`: existing connections are closed with a TCP RST on both sides;
   *   new ones are reset as soon as they are accepted.
   *
   * The proxy's own kernel still answers TCP keepalive probes, so a black-holed
   * connection is only noticed by a client-side deadline (a statement or query
   * timeout), never by keepalive.
   *
   * ```ts
   * await local.partition('pg-1')                    // silence
   * await local.partition('my-0', { mode: 'reset' }) // refused connections
   * ```
   */
  partition(shardId: string, options?: PartitionOptions): Promise<void>
  /**
   * Ends a partition and any added latency of `shardId`: new connections pass
   * again. Connections that were black-holed stay silent forever (the harsher
   * of what real networks do after a flow is lost); clients must drop them.
   *
   * ```ts
   * await local.heal('pg-1')
   * ```
   */
  heal(shardId: string): Promise<void>
  /**
   * Holds every chunk to and from `shardId` for `ms` before passing it on, in
   * order, on existing and new connections; `0` removes it. Needs `faults: true`.
   *
   * ```ts
   * await local.delay('my-0', 200) // each round trip to my-0 now takes 400 ms or more
   * await local.delay('my-0', 0)
   * ```
   */
  delay(shardId: string, ms: number): Promise<void>
  /**
   * Stops every server and removes every file the cluster made. Idempotent.
   *
   * ```ts
   * afterAll(() => local.destroy())
   * ```
   */
  destroy(): Promise<void>
}
