import { describe, expect, it } from 'vitest'
import { ShardRing, SLOT_COUNT, diffRings, xxh32Bytes } from '../../src/sharding/index.js'
import { prng } from './helpers/prng.js'
import { referenceOwners } from './helpers/reference.js'
import { equalShards, weightedShards } from './helpers/shard-sets.js'

function mismatchedSlots(shards: { id: string; weight?: number }[], slots: Iterable<number>): number[] {
  const ring = ShardRing.build(shards)
  const reference = referenceOwners(shards)
  const wrong: number[] = []
  for (const slot of slots) if (ring.slotOwner(slot) !== reference(slot)) wrong.push(slot)
  return wrong
}

function randomSlots(seed: number, count: number): number[] {
  const random = prng(seed)
  return Array.from({ length: count }, () => random.int(SLOT_COUNT))
}

/** Every slot of the first and last rows (where off-by-one errors live) plus a random sample. */
function edgeAndSampledSlots(seed: number): number[] {
  const edges = Array.from({ length: 4096 }, (_, i) => (i < 2048 ? i : SLOT_COUNT - 4096 + i))
  return [...edges, ...randomSlots(seed, 150_000)]
}

describe('the slot table equals the rendezvous definition', () => {
  it('for 3 equal shards', () => {
    expect(mismatchedSlots(equalShards(3), edgeAndSampledSlots(1))).toEqual([])
  })

  it('for 5 shards with weights 1, 1, 1, 2, 7.5', () => {
    const shards = [1, 1, 1, 2, 7.5].map((weight, i) => ({ id: `w${i}`, weight }))
    expect(mismatchedSlots(shards, edgeAndSampledSlots(2))).toEqual([])
  })

  for (const [name, shards] of [
    ['16 equal shards', equalShards(16)],
    ['16 shards, weights 1..4', weightedShards(16)],
    ['64 equal shards', equalShards(64)],
  ] as const) {
    it(`at sampled slots, for ${name}`, () => {
      expect(mismatchedSlots(shards, randomSlots(shards.length, 20_000))).toEqual([])
    })
  }

  it('at sampled slots, for 40 shards with all-different weights and non-ASCII ids', () => {
    const random = prng(5)
    const shards = Array.from({ length: 40 }, (_, i) => ({ id: `节点-${i}-é`, weight: 0.05 + random.next() * 10 }))
    expect(mismatchedSlots(shards, randomSlots(6, 20_000))).toEqual([])
  })

  it('for 1, 2 and 300 shards (0-, 1- and 9-bit owner tables)', () => {
    expect(mismatchedSlots(equalShards(1), randomSlots(14, 1_000))).toEqual([])
    expect(mismatchedSlots(equalShards(2), randomSlots(15, 20_000))).toEqual([])
    expect(mismatchedSlots(weightedShards(300), randomSlots(16, 3_000))).toEqual([])
  })

  it('with one weight hugely heavier, so most slots need the full scan', () => {
    const shards = [{ id: 'whale', weight: 1e6 }, ...equalShards(20)]
    expect(mismatchedSlots(shards, randomSlots(7, 20_000))).toEqual([])
  })
})

describe('order independence', () => {
  it('builds the same ring from any order of the same shards', () => {
    const shards = weightedShards(24)
    const ring = ShardRing.build(shards)
    for (const reordered of [prng(8).shuffle(shards)]) {
      const again = ShardRing.build(reordered)
      expect(again.shards).toEqual(ring.shards)
      expect(diffRings(ring, again)).toEqual([])
    }
  })

  it('depends on weights only through their ratios being equal or not', () => {
    // All-equal weights of any size give the same ring: the score is w / -ln(u).
    const ones = ShardRing.build(equalShards(5))
    const threes = ShardRing.build(equalShards(5).map((s) => ({ ...s, weight: 3 })))
    expect(diffRings(ones, threes)).toEqual([])
  })

  it('lists shards in canonical order: ids by UTF-8 bytes, not UTF-16 code units', () => {
    const ring = ShardRing.build(['😀', '\uffff', 'é', 'b', 'a', 'Z'].map((id) => ({ id })))
    expect(ring.shards.map((s) => s.id)).toEqual(['Z', 'a', 'b', 'é', '\uffff', '😀'])
  })
})

describe('ShardRing accessors', () => {
  const ring = ShardRing.build(equalShards(4))

  it('agree with each other', () => {
    const random = prng(9)
    for (let i = 0; i < 1000; i++) {
      const key = `order:${random.uint32()}`
      expect(ring.slotOwner(ring.slotFor(key))).toBe(ring.shardFor(key))
      // The slot is the top 20 bits of the key's XXH32.
      expect(ring.slotFor(key)).toBe(Math.floor(xxh32Bytes(Buffer.from(key)) / 4096))
    }
    const total = ring.shards.reduce((sum, s) => sum + ring.slotCountOf(s.id), 0)
    expect(total).toBe(ring.slotCount)
    expect(ring.slotCount).toBe(2 ** 20)
  })

  it('reject slots outside the table and unknown shard ids', () => {
    for (const bad of [-1, SLOT_COUNT, 1.5, NaN]) expect(() => ring.slotOwner(bad)).toThrow(RangeError)
    expect(() => ring.slotCountOf('nope')).toThrow(RangeError)
  })
})
