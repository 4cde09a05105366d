/**
 * Benchmark-only: whether branches carry the epoch fence. Not an option of the
 * library (a process without the fence can split a cluster's data); the bench
 * flips it to measure what the fence costs, in one run, on the same build.
 */
let fenceOn = true

export function fenceEnabled(): boolean {
  return fenceOn
}

/** @internal For bench/ only. */
export function setFenceForBenchmark(on: boolean): void {
  fenceOn = on
}
