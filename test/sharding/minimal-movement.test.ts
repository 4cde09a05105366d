import { describe, expect, it } from 'vitest'
import { ShardRing, diffRings } from '../../src/sharding/index.js'
import type { ShardSpec } from '../../src/sharding/index.js'
import { prng } from './helpers/prng.js'
import { equalShards, weightedShards } from './helpers/shard-sets.js'

// Builds dominate the run time: build each shard list once.
const rings = new Map<string, ShardRing>()
function ring(shards: ShardSpec[]): ShardRing {
  const key = JSON.stringify(shards)
  let built = rings.get(key)
  if (built === undefined) rings.set(key, (built = ShardRing.build(shards)))
  return built
}

/**
 * Checks that going from `before` to `after` moves only slots into
 * `changed` (when it was added or grew) or only out of it (removed or shrank),
 * that it moves all of them, and returns the fraction of slots moved.
 */
function movedFraction(before: ShardSpec[], after: ShardSpec[], changed: string, direction: 'in' | 'out'): number {
  const a = ring(before)
  const b = ring(after)
  const moves = diffRings(a, b)
  expect(moves.length).toBeGreaterThan(0)
  const stray = moves.filter((m) => (direction === 'in' ? m.to !== changed : m.from !== changed))
  expect(stray.slice(0, 5)).toEqual([])
  for (const m of moves.slice(0, 1000)) {
    expect(a.slotOwner(m.slot)).toBe(m.from)
    expect(b.slotOwner(m.slot)).toBe(m.to)
  }
  if (after.some((s) => s.id === changed) && before.some((s) => s.id === changed)) return moves.length / a.slotCount
  // An added or removed shard: the moves are exactly the slots it owns.
  expect(moves.length).toBe((direction === 'in' ? b : a).slotCountOf(changed))
  return moves.length / a.slotCount
}

// bench/ring.ts checks every removal from 16 and 64 shards; these tests keep
// to what runs in a few seconds.
describe('minimal movement', () => {
  const sixteen = equalShards(16)

  it('removing any one of 4 shards moves only its keys', () => {
    const four = equalShards(4)
    for (const removed of four) movedFraction(four, four.filter((s) => s !== removed), removed.id, 'out')
  })

  it('adding a 17th shard moves only keys to it, about 1/17 of them', () => {
    const moved = movedFraction(sixteen, [...sixteen, { id: 'shard-16', weight: 1 }], 'shard-16', 'in')
    expect(Math.abs(moved * 17 - 1)).toBeLessThan(0.02)
  })

  it('removing one of 16 shards moves only its keys, about 1/16', () => {
    for (const removed of prng(11).shuffle(sixteen).slice(0, 1)) {
      const moved = movedFraction(sixteen, sixteen.filter((s) => s !== removed), removed.id, 'out')
      expect(Math.abs(moved * 16 - 1)).toBeLessThan(0.02)
    }
  })

  it('adding or removing a shard of a 64-shard ring moves only its keys', () => {
    const sixtyFour = equalShards(64)
    const removed = sixtyFour[prng(12).int(64)]!
    const out = movedFraction(sixtyFour, sixtyFour.filter((s) => s !== removed), removed.id, 'out')
    expect(Math.abs(out * 64 - 1)).toBeLessThan(0.05)
    const added = movedFraction(sixtyFour, [...sixtyFour, { id: 'new', weight: 1 }], 'new', 'in')
    expect(Math.abs(added * 65 - 1)).toBeLessThan(0.05)
  })

  const weighted = weightedShards(12)

  it('with weights, adding or removing a shard moves only its keys', () => {
    movedFraction(weighted, [...weighted, { id: 'added', weight: 3 }], 'added', 'in')
    movedFraction(weighted, weighted.filter((s) => s.id !== 'shard-6'), 'shard-6', 'out')
  })

  it('raising one weight moves keys only to that shard; lowering it, only away', () => {
    const reweighted = (weight: number) => weighted.map((s) => (s.id === 'shard-5' ? { ...s, weight } : s))
    expect(weighted[5]!.weight).toBe(2)
    movedFraction(weighted, reweighted(3.5), 'shard-5', 'in')
    movedFraction(weighted, reweighted(1), 'shard-5', 'out')
  })

  it('diffing a ring with itself finds nothing to move', () => {
    expect(diffRings(ring(sixteen), ring(sixteen))).toEqual([])
  })
})
