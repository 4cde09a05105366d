import type { ShardRing } from './shard-ring.js'

/**
 * One slot that changes owner between two rings: every key whose
 * `slotFor(key)` is `slot` must move from shard `from` to shard `to`.
 */
export interface SlotMove {
  readonly slot: number
  readonly from: string
  readonly to: string
}

/**
 * The slots whose owner differs between `before` and `after`, by ascending
 * slot: the work list of a resharding. Adding or removing a shard yields only
 * moves to or from that shard.
 */
export function diffRings(before: ShardRing, after: ShardRing): SlotMove[] {
  const moves: SlotMove[] = []
  for (let slot = 0; slot < before.slotCount; slot++) {
    const from = before.slotOwner(slot)
    const to = after.slotOwner(slot)
    if (from !== to) moves.push({ slot, from, to })
  }
  return moves
}
