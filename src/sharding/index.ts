/**
 * Routing: maps a shard key to a shard id by weighted rendezvous hashing over
 * a fixed 2^20-slot table. Pure code, no I/O. See `docs/sharding.md`.
 */
export { ShardRing } from './shard-ring.js'
export { diffRings } from './diff-rings.js'
export type { SlotMove } from './diff-rings.js'
export { hashShardKey } from './shard-key.js'
export type { ShardKey } from './shard-key.js'
export { MAX_SHARDS, MAX_WEIGHT, MIN_WEIGHT } from './shard-spec.js'
export type { Shard, ShardSpec } from './shard-spec.js'
export { SLOT_BITS, SLOT_COUNT, slotOfHash } from './slot-space.js'
export { xxh32Bytes } from './xxh32.js'
export { xxh32String } from './xxh32-string.js'
