import { ShardRing, type SlotMove } from '../sharding/index.js'
import { ringFor } from '../sharding/ring-cache.js'
import type { TopologyShard } from '../topology/topology.js'

/**
 * One batch of a resharding job: the slots in [firstSlot, lastSlot] that move from
 * shard `from` to shard `to` (other slots in that range move elsewhere or stay).
 * `rows` is what the plan counted there; the batch moves whatever is there when it runs.
 */
export interface ReshardBatch {
  readonly from: string
  readonly to: string
  readonly firstSlot: number
  readonly lastSlot: number
  readonly rows: number
}

/** What a job moves, fixed when it is created: routing at any point of it follows from this and `done`. */
export interface ReshardPlan {
  readonly jobId: string
  readonly from: readonly TopologyShard[]
  readonly to: readonly TopologyShard[]
  readonly batches: readonly ReshardBatch[]
}

/** Rows per slot on one source shard, all declared sharded tables together. */
export type SlotRowCounts = ReadonlyMap<number, number>

/**
 * Splits the slots that change owner (`moves`, by ascending slot, as `diffRings`
 * gives them) into batches: one group per (from, to) pair, groups in id order,
 * slots ascending within a group, a batch closed once it holds `batchSize`
 * counted rows. A group without rows is one batch: routing still has to switch,
 * and that needs its own fenced step.
 */
export function planBatches(moves: readonly SlotMove[], rowsOnSource: ReadonlyMap<string, SlotRowCounts>, batchSize: number): ReshardBatch[] {
  const groups = new Map<string, number[]>()
  for (const { slot, from, to } of moves) {
    const key = `${from}\u0000${to}`
    let slots = groups.get(key)
    if (slots === undefined) groups.set(key, (slots = []))
    slots.push(slot)
  }
  const batches: ReshardBatch[] = []
  for (const key of [...groups.keys()].sort()) {
    const [from, to] = key.split('\u0000') as [string, string]
    const counts = rowsOnSource.get(from)
    const slots = groups.get(key)!
    let first = slots[0]!
    let rows = 0
    for (let i = 0; i < slots.length; i++) {
      rows += counts?.get(slots[i]!) ?? 0
      const last = i === slots.length - 1
      if (rows >= batchSize || last) {
        batches.push({ from, to, firstSlot: first, lastSlot: slots[i]!, rows })
        if (!last) first = slots[i + 1]!
        rows = 0
      }
    }
  }
  return batches
}

/** The batch a moving slot belongs to, by its from/to group; -1 when no batch holds it. */
export function batchIndexFinder(plan: ReshardPlan): (slot: number, from: string, to: string) => number {
  const byGroup = new Map<string, { index: number; batch: ReshardBatch }[]>()
  plan.batches.forEach((batch, index) => {
    const key = `${batch.from}\u0000${batch.to}`
    let list = byGroup.get(key)
    if (list === undefined) byGroup.set(key, (list = []))
    list.push({ index, batch })
  })
  return (slot, from, to) => {
    const list = byGroup.get(`${from}\u0000${to}`)
    if (list === undefined) return -1
    let lo = 0
    let hi = list.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const { batch, index } = list[mid]!
      if (slot < batch.firstSlot) hi = mid - 1
      else if (slot > batch.lastSlot) lo = mid + 1
      else return index
    }
    return -1
  }
}

/**
 * The ring after `done` batches: a moving slot is at its new owner once its batch
 * is done. A pure function of the plan and `done`, so every process that read the
 * same epoch routes every key alike.
 */
export function ringAfter(plan: ReshardPlan, done: number): ShardRing {
  const before = ringFor(plan.from)
  const after = ringFor(plan.to)
  if (done <= 0) return ShardRing.midway(before, after, () => false)
  if (done >= plan.batches.length) return ShardRing.midway(before, after, () => true)
  const batchOf = batchIndexFinder(plan)
  return ShardRing.midway(before, after, (slot, from, to) => {
    const index = batchOf(slot, from, to)
    return index >= 0 && index < done
  })
}

/**
 * {@link ringAfter} for `done`, from the ring after `baseDone` when the two differ
 * by one batch: only that batch's slot range is rewritten, where a fresh ring
 * passes over all 2^20 slots (about 20 ms, in every process, after every batch).
 */
export function ringAfterStep(plan: ReshardPlan, base: ShardRing, baseDone: number, done: number): ShardRing {
  if (Math.abs(done - baseDone) !== 1) throw new RangeError(`ringAfterStep: ${baseDone} → ${done} is not one batch`)
  const forward = done > baseDone
  const batch = plan.batches[forward ? baseDone : done]
  if (batch === undefined) throw new RangeError(`ringAfterStep: no batch ${forward ? baseDone : done}`)
  const before = ringFor(plan.from)
  const after = ringFor(plan.to)
  return ShardRing.reassigned(base, batch.firstSlot, batch.lastSlot, (slot) =>
    slotInBatch(batch, slot, before, after) ? (forward ? batch.to : batch.from) : undefined,
  )
}

/** Whether `slot` is one of `batch`'s (given the two rings' owners of it). */
export function slotInBatch(batch: ReshardBatch, slot: number, before: ShardRing, after: ShardRing): boolean {
  return slot >= batch.firstSlot && slot <= batch.lastSlot && before.slotOwner(slot) === batch.from && after.slotOwner(slot) === batch.to
}
