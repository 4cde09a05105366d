/**
 * `count` distinct keys shaped like `user:123456789`: the nine digits run
 * through a fixed permutation of [0, 9e8) (multiplying by 7^10, which is prime
 * to 9e8), so the set is the same on every run and has no duplicates.
 *
 * Each key is a flat (sequential) string, as strings read from a socket or a
 * database driver are. A template literal this long would be a V8 "cons
 * string", whose every character read goes through an extra pointer even
 * after it has been flattened, which is a property of the benchmark, not of
 * the code under test.
 *
 * ```ts
 * const keys = benchmarkKeys(1_000_000)
 * keys[0] // 'user:100000000'
 * ```
 */
export function benchmarkKeys(count: number): string[] {
  const keys = new Array<string>(count)
  for (let i = 0; i < count; i++) {
    const key = `user:${100_000_000 + ((i * 282_475_249) % 900_000_000)}`
    keys[i] = Buffer.from(key, 'latin1').toString('latin1')
  }
  return keys
}
