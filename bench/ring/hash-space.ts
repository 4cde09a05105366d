/**
 * Hash-space accounting for ring-style routers: each router is a list of arcs
 * `[end, owner]` covering [0, 2^32) in ascending order.
 *
 * ```ts
 * shares(router.arcs()) // Map { 'a' => 0.51, 'b' => 0.49 }
 * ```
 */
export function shares(arcs: readonly [number, string][]): Map<string, number> {
  const out = new Map<string, number>()
  let start = 0
  for (const [end, owner] of arcs) {
    out.set(owner, (out.get(owner) ?? 0) + (end - start) / 2 ** 32)
    start = end
  }
  return out
}

/**
 * Fraction of the hash space whose owner differs between two arc lists, and
 * the part of it that neither comes from nor goes to `changed` (needless).
 *
 * ```ts
 * movedBetween(before.arcs(), after.arcs(), 'shard-16') // { moved: 0.058, needless: 0.004 }
 * ```
 */
export function movedBetween(
  before: readonly [number, string][],
  after: readonly [number, string][],
  changed: string,
): { moved: number; needless: number } {
  let i = 0
  let j = 0
  let start = 0
  let moved = 0
  let needless = 0
  while (i < before.length && j < after.length) {
    const [endA, ownerA] = before[i]!
    const [endB, ownerB] = after[j]!
    const end = Math.min(endA, endB)
    if (ownerA !== ownerB) {
      moved += end - start
      if (ownerA !== changed && ownerB !== changed) needless += end - start
    }
    start = end
    if (endA === end) i++
    if (endB === end) j++
  }
  return { moved: moved / 2 ** 32, needless: needless / 2 ** 32 }
}
