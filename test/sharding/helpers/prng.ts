/**
 * A seeded pseudo-random generator (mulberry32) so property tests are
 * reproducible: a failure names its seed and fails again with it.
 *
 * ```ts
 * const random = prng(7)
 * random.int(10) // 0..9, the same sequence on every run
 * ```
 */
export function prng(seed: number) {
  let state = seed | 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  return {
    next,
    int: (below: number): number => Math.floor(next() * below),
    uint32: (): number => Math.floor(next() * 2 ** 32),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    shuffle: <T>(items: readonly T[]): T[] => {
      const out = [...items]
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        ;[out[i], out[j]] = [out[j]!, out[i]!]
      }
      return out
    },
  }
}
