import type { Cluster } from '../src/index.js'
import type { LocalCluster } from '../src/testing/index.js'
import { setFenceForBenchmark } from '../src/topology/fence-switch.js'
import { alternatingMedians, measure, type RunResult, type RunSettings } from './measure.js'
import { serversCpuOf } from './server-cpu.js'
import { shardtxTransfer } from './transfer.js'

interface Row {
  name: string
  result: RunResult
}
interface Ratio {
  name: string
  value: number
  target: string
  met: boolean
}

/**
 * What the epoch fence costs: W1 (PG↔MariaDB) and W2 (one shard, each dialect)
 * with the fence against the same build with it switched off (a benchmark-only
 * switch), at 1 and 16 clients. The two alternate round by round, so that drift
 * in the machine's load falls on both alike; the median of each is compared.
 * Each line also gives the servers' CPU per transaction (the workload's servers,
 * from /proc) of those median runs: what the fence costs the servers, which moves
 * less than throughput when other work shares the machine.
 */
export async function fenceBench(
  cluster: Cluster,
  local: LocalCluster,
  settings: Omit<RunSettings, 'concurrency'> & { repeats: number },
  rows: Row[],
  ratios: Ratio[],
  log: (line: string) => void,
): Promise<void> {
  const workloads = [
    ['W1 PG↔MariaDB', 'pg-0', 'my-0'],
    ['W2 pg-0', 'pg-0', 'pg-0'],
    ['W2 my-0', 'my-0', 'my-0'],
  ] as const
  for (const [label, from, to] of workloads) {
    for (const concurrency of [1, 16]) {
      process.stderr.write(`running ${label} fence on/off @${concurrency}…\n`)
      const serverCpuMs = serversCpuOf(local, [from, to])
      const once = (fence: boolean) => async (): Promise<RunResult> => {
        setFenceForBenchmark(fence)
        try {
          return await measure({ ...settings, concurrency, serverCpuMs }, () => shardtxTransfer(cluster, from, to))
        } finally {
          setFenceForBenchmark(true)
        }
      }
      const [withFence, without] = (await alternatingMedians(settings.repeats, [once(true), once(false)])) as [RunResult, RunResult]
      rows.push({ name: `${label} fence on @${concurrency}`, result: withFence }, { name: `${label} fence off @${concurrency}`, result: without })
      const value = withFence.txPerSec / without.txPerSec
      ratios.push({ name: `${label} tx/s fence on / off @${concurrency}`, value, target: '≥ 0.97', met: value >= 0.97 })
      const serverCpu = (r: RunResult): string => (r.serverCpuMsPerTx === undefined ? '?' : (r.serverCpuMsPerTx * 1000).toFixed(0))
      log(
        `${label} @${concurrency}: fence on ${withFence.txPerSec.toFixed(0)} tx/s, off ${without.txPerSec.toFixed(0)} tx/s (${value.toFixed(3)}); ` +
          `servers' CPU µs/tx on ${serverCpu(withFence)}, off ${serverCpu(without)}`,
      )
    }
  }
}
