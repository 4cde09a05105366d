import { describe, expect, it } from 'vitest'
import { SLOT_COUNT, ShardRing } from '../../src/sharding/index.js'
import { prng } from './helpers/prng.js'
import { equalShards, weightedShards } from './helpers/shard-sets.js'

/** Each shard's slot share divided by its target share (weight / total weight). */
function loadRatios(ring: ShardRing): number[] {
  const total = ring.shards.reduce((sum, s) => sum + s.weight, 0)
  return ring.shards.map((s) => ring.slotCountOf(s.id) / ring.slotCount / (s.weight / total))
}

describe('balance over the hash space', () => {
  it('keeps 16 equal shards within 1 % of the mean', () => {
    const ratios = loadRatios(ShardRing.build(equalShards(16)))
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.01)
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(0.99)
  })

  it('keeps 64 equal shards within 3 % of the mean', () => {
    const ratios = loadRatios(ShardRing.build(equalShards(64)))
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.03)
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(0.97)
  })

  it('spreads random shard ids like independent random slots (binomial variance)', () => {
    // Per-shard counts of n equal shards over 2^20 slots have variance
    // 2^20 (1/n)(1 - 1/n) when slots are assigned independently; a biased or
    // correlated score hash shows up as a much larger (or smaller) spread.
    const random = prng(10)
    let squares = 0
    let samples = 0
    for (let trial = 0; trial < 2; trial++) {
      const shards = Array.from({ length: 12 }, () => ({ id: `db-${random.uint32().toString(36)}` }))
      const ring = ShardRing.build(shards)
      for (const s of ring.shards) {
        squares += (ring.slotCountOf(s.id) - ring.slotCount / 12) ** 2
        samples++
      }
    }
    const binomial = SLOT_COUNT * (1 / 12) * (11 / 12)
    expect(squares / samples / binomial).toBeGreaterThan(0.5)
    expect(squares / samples / binomial).toBeLessThan(1.8)
  })

  const weighted16 = ShardRing.build(weightedShards(16))

  it('gives weighted shards (weights 1..4) their share to within 2 %', () => {
    for (const ratio of loadRatios(weighted16)) expect(Math.abs(ratio - 1)).toBeLessThan(0.02)
  })

  it('honours fractional and extreme weight ratios', () => {
    const ring = ShardRing.build([
      { id: 'tiny', weight: 0.1 },
      { id: 'half', weight: 0.5 },
      { id: 'big', weight: 100 },
    ])
    const ratio = new Map(ring.shards.map((s, i) => [s.id, loadRatios(ring)[i]!]))
    // Expected slots: tiny ≈ 1 042 (σ ≈ 32), half ≈ 5 212 (σ ≈ 72): bounds of about 5 σ.
    expect(Math.abs(ratio.get('big')! - 1)).toBeLessThan(0.001)
    expect(Math.abs(ratio.get('half')! - 1)).toBeLessThan(0.07)
    expect(Math.abs(ratio.get('tiny')! - 1)).toBeLessThan(0.15)
  })

  it('sends real keys where the slot shares say', () => {
    const ring = weighted16
    const counts = new Map<string, number>()
    const keys = 200_000
    for (let i = 0; i < keys; i++) {
      const shard = ring.shardFor(`user:${i}`)
      counts.set(shard, (counts.get(shard) ?? 0) + 1)
    }
    for (const s of ring.shards) {
      const expected = ring.slotCountOf(s.id) / ring.slotCount
      // The smallest share (1/40) gets ~5 000 of 200 000 keys: 7 % is about 5 σ.
      expect(Math.abs(counts.get(s.id)! / keys / expected - 1)).toBeLessThan(0.07)
    }
  })
})
