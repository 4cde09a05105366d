import type { ShardConfig } from '../config/shard-config.js'
import { delayMs, partitionMode, type PartitionOptions } from './faults/fault-options.js'
import { FaultProxy } from './faults/fault-proxy.js'
import { LocalClusterError } from './local-cluster-errors.js'
import type { LocalCluster, ServerInfo } from './local-cluster.js'
import type { LocalClusterBackend } from './local-cluster-backend.js'
import type { ManagedServer } from './managed-server.js'

/**
 * The {@link LocalCluster} every backend hands out: finds the server of a
 * shard id, runs one operation per server at a time (a restart racing a kill
 * would leave a half-started server), and makes destroy idempotent.
 */
export class ManagedCluster implements LocalCluster {
  readonly backend: LocalClusterBackend
  #shards: ShardConfig[]
  readonly #servers: readonly ManagedServer[]
  readonly #byShard = new Map<string, ManagedServer>()
  readonly #busy = new Map<ManagedServer, Promise<unknown>>()
  readonly #release: () => Promise<void>
  #destroyed: Promise<void> | undefined
  #proxies: Map<string, FaultProxy> | undefined

  constructor(backend: LocalClusterBackend, servers: readonly ManagedServer[], release: () => Promise<void>) {
    this.backend = backend
    this.#servers = servers
    this.#release = release
    this.#shards = servers.flatMap((server) => server.shards)
    for (const server of servers) for (const shard of server.shards) this.#byShard.set(shard.id, server)
  }

  get shards(): ShardConfig[] {
    return this.#shards
  }

  /**
   * Puts a {@link FaultProxy} in front of every shard and points the shard
   * configs at it (`faults: true`). Each proxy looks its server up again at every
   * new connection, so kill and restart work through it unchanged.
   */
  async routeThroughFaultProxies(): Promise<void> {
    const proxies = new Map<string, FaultProxy>()
    this.#proxies = proxies
    for (const shard of this.#shards) {
      const server = this.#byShard.get(shard.id)!
      const proxy = new FaultProxy(() => server.info())
      proxies.set(shard.id, proxy)
      await proxy.listen()
    }
    this.#shards = this.#shards.map((shard) => ({ ...shard, connection: viaProxy(shard.connection, proxies.get(shard.id)!.port) }))
  }

  async partition(shardId: string, options?: PartitionOptions): Promise<void> {
    const proxy = this.#proxyOf(shardId, 'partition')
    await proxy.partition(partitionMode(options))
  }

  async heal(shardId: string): Promise<void> {
    this.#proxyOf(shardId, 'heal').heal()
  }

  async delay(shardId: string, ms: number): Promise<void> {
    const proxy = this.#proxyOf(shardId, 'delay')
    proxy.delay(delayMs(ms))
  }

  server(shardId: string): ServerInfo {
    return this.#serverOf(shardId, 'server').info()
  }

  async kill(shardId: string): Promise<void> {
    const server = this.#serverOf(shardId, 'kill')
    await this.#serialize(server, () => server.kill())
  }

  async stop(shardId: string): Promise<void> {
    const server = this.#serverOf(shardId, 'stop')
    await this.#serialize(server, () => server.stop())
  }

  async restart(shardId: string): Promise<void> {
    const server = this.#serverOf(shardId, 'restart')
    await this.#serialize(server, () => server.restart())
  }

  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      // Waiting for in-flight operations first keeps a restart from
      // respawning a server after its directory is gone.
      await Promise.allSettled(this.#busy.values())
      await Promise.allSettled([...(this.#proxies?.values() ?? [])].map((proxy) => proxy.close()))
      const results = await Promise.allSettled(this.#servers.map((server) => server.destroy()))
      await this.#release()
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
      if (failed) throw failed.reason
    })()
    return this.#destroyed
  }

  #serverOf(shardId: string, operation: string): ManagedServer {
    if (this.#destroyed) throw new LocalClusterError('LOCAL_CLUSTER_DESTROYED', `${operation}(${JSON.stringify(shardId)}): the cluster was destroyed`)
    const server = this.#byShard.get(shardId)
    if (!server) {
      throw new LocalClusterError(
        'LOCAL_CLUSTER_UNKNOWN_SHARD',
        `${operation}: unknown shard id ${JSON.stringify(shardId)}; this cluster has ${[...this.#byShard.keys()].join(', ')}`,
      )
    }
    return server
  }

  #proxyOf(shardId: string, operation: string): FaultProxy {
    this.#serverOf(shardId, operation)
    const proxy = this.#proxies?.get(shardId)
    if (!proxy) {
      throw new LocalClusterError(
        'LOCAL_CLUSTER_NO_FAULTS',
        `${operation}(${JSON.stringify(shardId)}): network faults need the cluster started with { faults: true }`,
      )
    }
    return proxy
  }

  #serialize(server: ManagedServer, operation: () => Promise<void>): Promise<void> {
    const previous = this.#busy.get(server) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(operation)
    this.#busy.set(server, next)
    return next
  }
}

/** The same connection, through the proxy on 127.0.0.1:`port`. */
function viaProxy(connection: ShardConfig['connection'], port: number): ShardConfig['connection'] {
  if (typeof connection !== 'string') return { ...connection, host: '127.0.0.1', port }
  const url = new URL(connection)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return url.toString()
}
