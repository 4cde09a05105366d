import { hashShardKeyInt32 } from './shard-key.js'
import type { ShardKey } from './shard-key.js'
import { validateShards } from './shard-spec.js'
import type { Shard, ShardSpec } from './shard-spec.js'
import { ownerBits, packOwners, readOwner, writeOwner } from './packed-owners.js'
import { buildSlotTable } from './slot-table.js'
import { SLOT_COUNT, slotOfHash } from './slot-space.js'

// The lookup's steps as module constants, which V8 inlines without
// re-checking the callee on every call as it does through an import binding.
const hashKey = hashShardKeyInt32
const slotOf = slotOfHash
const ownerOf = readOwner

/**
 * Routes shard keys to shard ids by weighted rendezvous hashing over a fixed
 * space of 2^20 slots, precomputed into a table so a lookup is one hash and
 * one array read. The mapping depends only on the key and the set of
 * `(id, weight)` pairs, never on their order, the process or the platform,
 * and adding or removing a shard moves only the slots it gains or loses.
 * `docs/sharding.md` specifies it exactly.
 */
export class ShardRing {
  /** Number of slots, always 2^20. */
  readonly slotCount: number = SLOT_COUNT
  /** The shards, validated, in canonical order (ids by UTF-8 bytes). */
  readonly shards: readonly Shard[]
  readonly #ids: readonly string[]
  readonly #owners: Uint8Array
  readonly #ownerBits: number
  readonly #slotCounts: Map<string, number>

  private constructor(shards: readonly Shard[], owners: Uint16Array | { packed: Uint8Array; counts: readonly number[] }) {
    this.shards = Object.freeze(shards)
    this.#ids = shards.map((shard) => shard.id)
    this.#ownerBits = ownerBits(shards.length)
    let counts: number[]
    if (owners instanceof Uint16Array) {
      this.#owners = packOwners(owners, this.#ownerBits)
      counts = new Array<number>(shards.length).fill(0)
      for (let slot = 0; slot < owners.length; slot++) counts[owners[slot]!]!++
    } else {
      this.#owners = owners.packed
      counts = [...owners.counts]
    }
    this.#slotCounts = new Map(this.#ids.map((id, i) => [id, counts[i]!]))
  }

  /**
   * Validates `shards` and builds the ring (≈ 0.1 s for 64 shards). Throws a
   * `ConfigError` naming the bad field: an empty list, a duplicate or empty
   * id, a weight that is not a finite number in [1e-9, 1e9].
   */
  static build(shards: readonly ShardSpec[]): ShardRing {
    const valid = validateShards(shards)
    return new ShardRing(valid, buildSlotTable(valid))
  }

  /**
   * The ring in the middle of a move from `before` to `after`: a slot the two
   * rings give to different shards belongs to `after`'s owner once `moved(slot)`,
   * and to `before`'s until then; every other slot to the owner both agree on.
   * Its shards are those of both rings (weights as `after` has them), so a shard
   * that is being added or removed is routed to for exactly the slots it holds now.
   */
  static midway(before: ShardRing, after: ShardRing, moved: (slot: number, from: string, to: string) => boolean): ShardRing {
    const union = new Map<string, Shard>(before.shards.map((s) => [s.id, s]))
    for (const shard of after.shards) union.set(shard.id, shard)
    const shards = validateShards([...union.values()])
    const index = new Map(shards.map((s, i) => [s.id, i]))
    const beforeIndex = before.#ids.map((id) => index.get(id)!)
    const afterIndex = after.#ids.map((id) => index.get(id)!)
    const owners = new Uint16Array(SLOT_COUNT)
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const fromOwner = readOwner(before.#owners, before.#ownerBits, slot)
      const toOwner = readOwner(after.#owners, after.#ownerBits, slot)
      const from = beforeIndex[fromOwner]!
      const to = afterIndex[toOwner]!
      owners[slot] = from !== to && moved(slot, before.#ids[fromOwner]!, after.#ids[toOwner]!) ? to : from
    }
    return new ShardRing(shards, owners)
  }

  /**
   * `base` with the slots in [firstSlot, lastSlot] for which `owner(slot, current)`
   * names another of its shards given to that shard; every other slot as in
   * `base`. Same shards. Costs a copy of the table and the range, not a pass over
   * every slot: the ring after one more (or one less) batch of a resharding job.
   */
  static reassigned(base: ShardRing, firstSlot: number, lastSlot: number, owner: (slot: number, current: string) => string | undefined): ShardRing {
    const index = new Map(base.#ids.map((id, i) => [id, i]))
    const packed = base.#owners.slice()
    const counts = base.#ids.map((id) => base.#slotCounts.get(id)!)
    const last = Math.min(lastSlot, SLOT_COUNT - 1)
    for (let slot = Math.max(0, firstSlot); slot <= last; slot++) {
      const current = readOwner(packed, base.#ownerBits, slot)
      const next = owner(slot, base.#ids[current]!)
      if (next === undefined) continue
      const to = index.get(next)
      if (to === undefined) throw new RangeError(`no shard ${JSON.stringify(next)} in this ring`)
      if (to === current) continue
      writeOwner(packed, base.#ownerBits, slot, to)
      counts[current]!--
      counts[to]!++
    }
    return new ShardRing(base.shards, { packed, counts })
  }

  /**
   * The id of the shard that owns `key`. Throws `InvalidKeyError` for keys
   * that are not a string, safe integer, bigint or Uint8Array.
   */
  shardFor(key: ShardKey): string {
    return this.#ids[ownerOf(this.#owners, this.#ownerBits, slotOf(hashKey(key)))]!
  }

  /**
   * The slot of `key`, in [0, slotCount): the top 20 bits of its XXH32.
   * Independent of the shards, so it can be stored with a row to find the
   * rows a resharding moves.
   */
  slotFor(key: ShardKey): number {
    return slotOfHash(hashShardKeyInt32(key))
  }

  /**
   * The id of the shard that owns `slot`. Throws `RangeError` for anything
   * but an integer in [0, slotCount).
   */
  slotOwner(slot: number): string {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) {
      throw new RangeError(`slot must be an integer in [0, ${SLOT_COUNT}), got ${String(slot)}`)
    }
    return this.#ids[readOwner(this.#owners, this.#ownerBits, slot)]!
  }

  /**
   * How many slots `shardId` owns; its share of keys is this / slotCount.
   * Throws `RangeError` for an id that is not in the ring.
   */
  slotCountOf(shardId: string): number {
    const count = this.#slotCounts.get(shardId)
    if (count === undefined) throw new RangeError(`no shard ${JSON.stringify(shardId)} in this ring`)
    return count
  }
}
