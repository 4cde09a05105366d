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
  /**
   * Set while a resharding job moves rows from `from` to {@link shards}: routing
   * at this epoch is the ring midway between them after `done` of `total` batches
   * (docs/resharding.md).
   */
  readonly move?: TopologyMove | undefined
}

/**
 * Where a resharding job stands at one epoch.
 *
 * ```ts
 * const { jobId, done, total } = (await cluster.topology()).move ?? {}
 * ```
 */
export interface TopologyMove {
  readonly jobId: string
  readonly done: number
  readonly total: number
  /** The routing set the job moves rows away from. */
  readonly from: readonly TopologyShard[]
  /**
   * The batch being moved, when set: its keys are refused by every router at this
   * epoch (a retryable KeyMovingError) until the batch's move publishes the next one.
   */
  readonly moving?: number | undefined
  /**
   * With `moving`: when (ms since the epoch) the mover that froze the batch gives up
   * on its move at the latest. Past it, any process's background recovery unfreezes
   * the batch, so a mover that died between the two steps leaves no key refused.
   */
  readonly frozenUntil?: number | undefined
}

/** Every shard a topology routes some key to: during a move, those of both sets. */
export function routedShards(topology: Topology): TopologyShard[] {
  if (topology.move === undefined) return [...topology.shards]
  const union = new Map(topology.move.from.map((s) => [s.id, s]))
  for (const shard of topology.shards) union.set(shard.id, shard)
  return routingSet([...union.values()])
}

export function encodeMove(move: TopologyMove | undefined): string | null {
  if (move === undefined) return null
  return JSON.stringify({ job: move.jobId, done: move.done, total: move.total, from: routingSet(move.from), ...(move.moving === undefined ? {} : { moving: move.moving, frozenUntil: move.frozenUntil }) })
}

export function decodeMove(text: string | null | undefined): TopologyMove | undefined {
  if (text === null || text === undefined || text === '') return undefined
  const parsed = JSON.parse(text) as { job: string; done: number; total: number; from: TopologyShard[]; moving?: number; frozenUntil?: number }
  const move = { jobId: parsed.job, done: Number(parsed.done), total: Number(parsed.total), from: routingSet(parsed.from) }
  if (parsed.moving === undefined) return move
  return { ...move, moving: Number(parsed.moving), ...(parsed.frozenUntil === undefined ? {} : { frozenUntil: Number(parsed.frozenUntil) }) }
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
