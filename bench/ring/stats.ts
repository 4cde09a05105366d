/**
 * Median of a list of numbers (the benchmark's answer to a noisy machine).
 *
 * ```ts
 * median([3, 1, 2]) // 2
 * ```
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Runs `work` `repeats` times and returns, for each run, the wall-clock
 * milliseconds and the milliseconds of CPU this process used. On a shared
 * machine the CPU time is the steadier figure: it leaves out the time the
 * process spent waiting for a core.
 *
 * ```ts
 * median(timeRuns(5, () => ShardRing.build(shards)).wall)
 * ```
 */
export function timeRuns(repeats: number, work: () => unknown): { wall: number[]; cpu: number[] } {
  const wall: number[] = []
  const cpu: number[] = []
  for (let r = 0; r < repeats; r++) {
    const cpuStart = process.cpuUsage()
    const start = performance.now()
    work()
    wall.push(performance.now() - start)
    const used = process.cpuUsage(cpuStart)
    cpu.push((used.user + used.system) / 1000)
  }
  return { wall, cpu }
}

/**
 * Largest relative deviation of `actual[i]` from `target[i]`, e.g. 0.02 for 2 %.
 *
 * ```ts
 * worstRelativeError([0.26, 0.74], [0.25, 0.75]) // 0.04
 * ```
 */
export function worstRelativeError(actual: readonly number[], target: readonly number[]): number {
  return Math.max(...actual.map((a, i) => Math.abs(a / target[i]! - 1)))
}
