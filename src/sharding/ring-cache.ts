import { ShardRing } from './index.js'

const MAX_RINGS = 16
const rings = new Map<string, ShardRing>()

/**
 * The ring for a set of shards, built once per process: building fills a 2^20-slot
 * table (a few hundred ms of CPU), and processes often make several clusters over
 * the same shards (tests, CLI commands, recoverers). The mapping depends only on
 * the set of (id, weight), so the cache key is that set.
 */
export function ringFor(shards: readonly { id: string; weight: number }[]): ShardRing {
  const key = shards
    .map((s) => `${s.id}\u0000${s.weight}`)
    .sort()
    .join('\u0001')
  let ring = rings.get(key)
  if (ring === undefined) {
    ring = ShardRing.build(shards)
    if (rings.size >= MAX_RINGS) rings.delete(rings.keys().next().value!)
    rings.set(key, ring)
  }
  return ring
}
