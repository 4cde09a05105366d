import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SLOT_COUNT, ShardRing, hashShardKey, slotOfHash } from '../../src/sharding/index.js'
import { toKey, tableDigest } from './helpers/golden.js'
import type { StoredKey } from './helpers/golden.js'

interface Golden {
  keys: { key: StoredKey; hash: string }[]
  shardSets: {
    name: string
    shards: { id: string; weight: number }[]
    tableDigest: string
    slotCounts: Record<string, number>
    owners: string[]
  }[]
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/golden-vectors.json', import.meta.url), 'utf8')) as Golden

// If one of these fails, routing changed: every deployed cluster would send
// keys to other shards after the upgrade. Fix the code, not the fixture.
describe('golden vectors', () => {
  it('hash every stored key as recorded', () => {
    expect(golden.keys.length).toBeGreaterThan(250)
    const wrong = golden.keys.filter(({ key, hash }) => hashShardKey(toKey(key)).toString(16).padStart(8, '0') !== hash)
    expect(wrong).toEqual([])
  })

  for (const set of golden.shardSets) {
    it(`route every stored key as recorded: ${set.name}`, () => {
      const ring = ShardRing.build(set.shards)
      const routed = golden.keys.map(({ key }) => ring.shardFor(toKey(key)))
      expect(routed).toEqual(set.owners)
      for (const { key, hash } of golden.keys) {
        expect(ring.slotFor(toKey(key))).toBe(slotOfHash(parseInt(hash, 16)))
      }
      expect(Object.fromEntries(ring.shards.map((s) => [s.id, ring.slotCountOf(s.id)]))).toEqual(set.slotCounts)
      expect(Object.values(set.slotCounts).reduce((a, b) => a + b, 0)).toBe(SLOT_COUNT)
      expect(tableDigest(ring)).toBe(set.tableDigest)
    })
  }
})
