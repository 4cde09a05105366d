import type { ShardRing } from '../sharding/index.js'
import type { Topology } from './topology.js'

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
}
