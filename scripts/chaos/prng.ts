/**
 * A small seeded PRNG (mulberry32): the chaos schedule and every worker's
 * choice of transfers come from it, so a failing run can be replayed by seed.
 *
 * ```ts
 * const random = new Prng(42)
 * random.int(10) // 0..9, the same sequence for the same seed
 * ```
 */
export class Prng {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** Exponentially distributed with the given mean: the gaps of a Poisson process. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
}

/** Derives an independent 32-bit seed for a part of the run (a worker slot and incarnation). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x9e3779b1) >>> 0
    h ^= h >>> 16
  }
  return h >>> 0
}
