import { createRequire } from 'node:module'

// hashring ships no types; this is the part of it the benchmark touches.
interface HashRingInstance {
  get(key: string): string
  ring: { value: number; server: string }[]
}
type HashRingConstructor = new (servers: Record<string, number>) => HashRingInstance

const HashRing = createRequire(import.meta.url)('hashring') as HashRingConstructor

/**
 * The npm `hashring` package (ketama: 40 vnodes × 4 replicas = 160 points per
 * server, scaled by weight) behind the benchmark's router shape, with its
 * exact hash-space ownership read from its sorted points: a key hashing to x
 * goes to the first point ≥ x, wrapping to the first point.
 *
 * ```ts
 * const ring = hashringRouter([{ id: 'a', weight: 1 }])
 * ring.get('user:1') // 'a'
 * ```
 */
export function hashringRouter(shards: readonly { id: string; weight: number }[]) {
  const ring = new HashRing(Object.fromEntries(shards.map((s) => [s.id, s.weight])))
  return {
    get: (key: string): string => ring.get(key),
    /** Each arc of the 2^32 hash space as [end (exclusive), owner], ascending. */
    arcs(): [number, string][] {
      const points = ring.ring
      const arcs: [number, string][] = points.map((p) => [p.value + 1, p.server])
      arcs.push([2 ** 32, points[0]!.server])
      return arcs
    },
  }
}
