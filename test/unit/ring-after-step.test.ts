import { describe, expect, it } from 'vitest'
import { ringAfter, ringAfterStep, planBatches, type ReshardPlan } from '../../src/resharding/reshard-plan.js'
import { diffRings } from '../../src/sharding/diff-rings.js'
import { ringFor } from '../../src/sharding/ring-cache.js'
import type { ShardRing } from '../../src/sharding/index.js'
import type { TopologyShard } from '../../src/topology/topology.js'

const shard = (id: string, weight = 1): TopologyShard => ({ id, dialect: 'postgres', weight })

/** A plan from `from` to `to` whose batches each hold about a tenth of the moving slots. */
function planOf(from: TopologyShard[], to: TopologyShard[]): ReshardPlan {
  const moves = diffRings(ringFor(from), ringFor(to))
  const perSlot = new Map<string, Map<number, number>>()
  for (const { slot, from: source } of moves) {
    if (!perSlot.has(source)) perSlot.set(source, new Map())
    perSlot.get(source)!.set(slot, 1)
  }
  return { jobId: 'job', from, to, batches: planBatches(moves, perSlot, Math.ceil(moves.length / 10)) }
}

function expectSameRing(actual: ShardRing, expected: ShardRing, what: string): void {
  expect(actual.shards, what).toEqual(expected.shards)
  let differing = 0
  for (let slot = 0; slot < expected.slotCount; slot++) if (actual.slotOwner(slot) !== expected.slotOwner(slot)) differing++
  expect(differing, `${what}: slots owned differently`).toBe(0)
  for (const { id } of expected.shards) expect(actual.slotCountOf(id), `${what}: slots of ${id}`).toBe(expected.slotCountOf(id))
}

describe('the ring after one batch more or less (ringAfterStep)', () => {
  const four = [shard('a'), shard('b'), shard('c'), shard('d')]
  const plans = {
    'a shard added': planOf(four, [...four, shard('e')]),
    'a shard removed': planOf(four, four.slice(0, 3)),
    'a weight changed': planOf(four, [shard('a', 3), ...four.slice(1)]),
  }

  for (const [name, plan] of Object.entries(plans)) {
    it(`is the ring a fresh build gives, forward and back (${name})`, () => {
      const total = plan.batches.length
      expect(total).toBeGreaterThan(3)
      for (let done = 1; done <= total; done++) {
        expectSameRing(ringAfterStep(plan, ringAfter(plan, done - 1), done - 1, done), ringAfter(plan, done), `${done - 1} → ${done}`)
      }
      for (const done of [total - 1, Math.floor(total / 2), 0]) {
        expectSameRing(ringAfterStep(plan, ringAfter(plan, done + 1), done + 1, done), ringAfter(plan, done), `${done + 1} → ${done}`)
      }
    })
  }

  it('refuses a step of more than one batch', () => {
    const plan = plans['a shard added']
    expect(() => ringAfterStep(plan, ringAfter(plan, 0), 0, 2)).toThrow(RangeError)
  })
})
