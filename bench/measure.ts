/** What one measured run gives. */
export interface RunResult {
  txPerSec: number
  p50Ms: number
  p99Ms: number
  count: number
  errors: number
  /** CPU time (user + system) of this process per committed transaction, in ms, over the measured window. */
  cpuMsPerTx: number
  /** The first error, when there were any. */
  firstError?: string
  /** CPU time of the servers per committed transaction, in ms, over the measured window, when `serverCpuMs` was given. */
  serverCpuMsPerTx?: number
}

export interface RunSettings {
  concurrency: number
  warmupMs: number
  durationMs: number
  /** CPU time the servers have used so far, in ms (bench/server-cpu.ts), read at both ends of the measured window. */
  serverCpuMs?: () => number | undefined
}

/**
 * Runs `once` from `concurrency` clients in a closed loop: a warm-up that is not
 * counted, then a measured window. Each client runs `once(client, n)` again as
 * soon as the previous one settles; errors are counted, not thrown.
 */
export async function measure(settings: RunSettings, once: (client: number) => Promise<void>): Promise<RunResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  let measuring = false
  let stop = false
  const client = async (id: number): Promise<void> => {
    while (!stop) {
      const started = performance.now()
      try {
        await once(id)
        if (measuring) latencies.push(performance.now() - started)
      } catch (error) {
        if (measuring) errors++
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        // A failure that needs no I/O must not spin the loop and starve the timers.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }
  const clients = Array.from({ length: settings.concurrency }, (_, id) => client(id))
  await sleep(settings.warmupMs)
  measuring = true
  const begin = performance.now()
  const cpuBefore = process.cpuUsage()
  const serverBefore = settings.serverCpuMs?.()
  await sleep(settings.durationMs)
  measuring = false
  const cpu = process.cpuUsage(cpuBefore)
  const serverAfter = settings.serverCpuMs?.()
  const elapsed = performance.now() - begin
  stop = true
  await Promise.all(clients)
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  return {
    txPerSec: (latencies.length / elapsed) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    count: latencies.length,
    errors,
    cpuMsPerTx: (cpu.user + cpu.system) / 1000 / Math.max(1, latencies.length),
    ...(firstError === undefined ? {} : { firstError }),
    ...(serverBefore === undefined || serverAfter === undefined ? {} : { serverCpuMsPerTx: (serverAfter - serverBefore) / Math.max(1, latencies.length) }),
  }
}

/**
 * Runs several workloads `repeats` times in rounds, the order reversed every
 * other round, so no workload always runs first (cold) or last (after the
 * servers' background work piled up); gives each one's median run.
 */
export async function alternatingMedians(repeats: number, runs: ReadonlyArray<() => Promise<RunResult>>): Promise<RunResult[]> {
  const results: RunResult[][] = runs.map(() => [])
  for (let round = 0; round < repeats; round++) {
    const order = runs.map((_, i) => i)
    if (round % 2 === 1) order.reverse()
    for (const i of order) results[i]!.push(await runs[i]!())
  }
  return results.map(median)
}

function median(results: RunResult[]): RunResult {
  const sorted = [...results].sort((a, b) => a.txPerSec - b.txPerSec)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** The median of several runs, by throughput; its latencies come from the same run. */
export async function medianOf(repeats: number, run: () => Promise<RunResult>): Promise<RunResult> {
  return (await alternatingMedians(repeats, [run]))[0]!
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
