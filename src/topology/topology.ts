import type { Dialect } from '../config/shard-config.js'

/**
 * One shard as the topology routes to it: no connection details, which stay in
 * each process's configuration.
 *
 * ```ts
 * const shard: TopologyShard = { id: 'pg-0', dialect: 'postgres', weight: 1 }
 * ```
 */
export interface TopologyShard {
  readonly id: string
  readonly dialect: Dialect
  readonly weight: number
}

/**
 * The routing set every process of a cluster routes by, and its epoch, as stored
 * on the log shard. The epoch grows by one with every change.
 *
 * ```ts
 * const { epoch, shards } = await cluster.topology()
 * ```
 */
export interface Topology {
  readonly epoch: number
  /** Sorted by id. */
  readonly shards: readonly TopologyShard[]
  /** The shard that holds the transaction log, the topology and its history. */
  readonly logShardId: string
}

/** The routing set of shards given in any order: sorted by id, only what routing reads. */
export function routingSet(shards: readonly { id: string; dialect: Dialect; weight?: number | undefined }[]): TopologyShard[] {
  return shards
    .map((s) => ({ id: s.id, dialect: s.dialect, weight: s.weight ?? 1 }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** The stored form of a routing set: JSON of the sorted list, so equal sets store equal text. */
export function encodeShards(shards: readonly TopologyShard[]): string {
  return JSON.stringify(routingSet(shards).map(({ id, dialect, weight }) => ({ id, dialect, weight })))
}

export function decodeShards(text: string): TopologyShard[] {
  return routingSet(JSON.parse(text) as TopologyShard[])
}
