import { KeyMovingError } from '../errors.js'
import type { ShardKey, ShardRing } from '../sharding/index.js'
import type { Topology } from './topology.js'

/**
 * The keys of the batch a resharding job is moving at this epoch: routing refuses
 * them (docs/resharding.md, "A batch in two steps").
 */
export interface MovingKeys {
  readonly jobId: string
  /** The batch's index in the job's plan. */
  readonly batch: number
  has(key: ShardKey): boolean
}

/**
 * What a transaction routes by, taken once when it starts: the ring and the epoch
 * its branches present to each shard's fence, from the same stored topology.
 *
 * ```ts
 * const { epoch, ring } = rt.topology.current
 * ```
 */
export interface Routing {
  readonly topology: Topology
  readonly ring: ShardRing
  /** 0 until the stored topology is loaded: no fence accepts it. */
  readonly epoch: number
  /** Set while a batch is being moved: its keys have no owner to write to. */
  readonly moving?: MovingKeys | undefined
}

/** How to route at an epoch in the middle of a resharding job: the ring, and the batch being moved if any. */
export interface MoveRouting {
  readonly ring: ShardRing
  readonly moving?: MovingKeys | undefined
}

/**
 * The shard a transaction sends `key`'s statements to, or a retryable
 * KeyMovingError when its batch is being moved. Refused here, in the client, the
 * key costs the shards nothing and no other key waits for it.
 */
export function routeKey(routing: Routing, key: ShardKey): string {
  const shardId = routing.ring.shardFor(key)
  const moving = routing.moving
  if (moving !== undefined && moving.has(key)) throw new KeyMovingError(shardId, routing.epoch, moving.jobId, moving.batch)
  return shardId
}
