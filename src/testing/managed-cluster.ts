import type { ShardConfig } from '../config/shard-config.js'
import { LocalClusterError } from './local-cluster-errors.js'
import type { LocalCluster, ServerInfo } from './local-cluster.js'
import type { LocalClusterBackend } from './local-cluster-options.js'
import type { ManagedServer } from './managed-server.js'

/**
 * The {@link LocalCluster} every backend hands out: finds the server of a
 * shard id, runs one operation per server at a time (a restart racing a kill
 * would leave a half-started server), and makes destroy idempotent.
 *
 * ```ts
 * return new ManagedCluster('local', servers, () => rm(root, { recursive: true, force: true }))
 * ```
 */
export class ManagedCluster implements LocalCluster {
  readonly backend: LocalClusterBackend
  readonly shards: ShardConfig[]
  readonly #servers: readonly ManagedServer[]
  readonly #byShard = new Map<string, ManagedServer>()
  readonly #busy = new Map<ManagedServer, Promise<unknown>>()
  readonly #release: () => Promise<void>
  #destroyed: Promise<void> | undefined

  constructor(backend: LocalClusterBackend, servers: readonly ManagedServer[], release: () => Promise<void>) {
    this.backend = backend
    this.#servers = servers
    this.#release = release
    this.shards = servers.flatMap((server) => server.shards)
    for (const server of servers) for (const shard of server.shards) this.#byShard.set(shard.id, server)
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

  #serialize(server: ManagedServer, operation: () => Promise<void>): Promise<void> {
    const previous = this.#busy.get(server) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(operation)
    this.#busy.set(server, next)
    return next
  }
}
