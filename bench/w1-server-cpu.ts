/**
 * `node --import tsx bench/w1-server-cpu.ts`: where a W1 transfer's CPU goes,
 * beside hand-written 2PC (B2), on throwaway servers it starts (1 PostgreSQL + 1
 * MariaDB, fsync on). One client, one transfer after another, so every figure is
 * per transaction and the variants' windows alternate: W1, W1 with the topology
 * fence switched off (the bench-only switch), W1 without deadlock-detection labels
 * (`deadlockTimeout: false`), and B2. Per variant: each server's CPU (from /proc,
 * so Linux only), this process's CPU, and wall time, medians over the windows.
 */
import { createCluster } from '../src/index.js'
import { setFenceForBenchmark } from '../src/topology/fence-switch.js'
import { positiveIntFlag, scriptFlags } from '../scripts/script-flags.js'
import { batchedForget, connectRaw, createHandWrittenLog, handWrittenTransfer } from './hand-written-2pc.js'
import { serversCpuOf } from './server-cpu.js'
import { randomAccount, shardtxTransfer } from './transfer.js'
import { startTwoServerCluster } from './two-server-cluster.js'

const HELP = `node --import tsx bench/w1-server-cpu.ts [flags]

CPU µs per sequential W1 transfer (PostgreSQL ↔ MariaDB, the log shard inside) on
each server and in this process, beside B2 (hand-written 2PC), with the fence off
and without deadlock labels, on throwaway servers it starts. Windows alternate.

  --tx N       transfers per window (default 3000)
  --windows N  measured windows per variant (default 5), after one warm-up window
  -h, --help   this text
`
const flags = scriptFlags('bench/w1-server-cpu', HELP, {
  tx: { type: 'string', default: '3000' },
  windows: { type: 'string', default: '5' },
})
const perWindow = positiveIntFlag('bench/w1-server-cpu', 'tx', flags.tx!)
const windows = positiveIntFlag('bench/w1-server-cpu', 'windows', flags.windows!)

interface Sample {
  pgUs: number
  mariadbUs: number
  clientUs: number
  wallUs: number
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const local = await startTwoServerCluster({ durable: true })
try {
  const shards = local.shards
  const pgCpuMs = serversCpuOf(local, ['pg-0'])
  const mariadbCpuMs = serversCpuOf(local, ['my-0'])
  const cluster = createCluster({ shards, log: 'pg-0', recovery: false })
  const unlabelled = createCluster({ shards, log: 'pg-0', recovery: false, deadlockTimeout: false })
  const [logConn, otherConn, forgetConn] = await Promise.all([connectRaw(shards[0]!), connectRaw(shards[1]!), connectRaw(shards[0]!)])
  await createHandWrittenLog(logConn)
  const forget = batchedForget(forgetConn)
  const variants: [string, () => Promise<void>][] = [
    ['W1', () => (setFenceForBenchmark(true), shardtxTransfer(cluster, 'pg-0', 'my-0'))],
    ['W1, fence off', () => (setFenceForBenchmark(false), shardtxTransfer(cluster, 'pg-0', 'my-0'))],
    ['W1, no deadlock labels', () => (setFenceForBenchmark(true), shardtxTransfer(unlabelled, 'pg-0', 'my-0'))],
    ['B2 hand-written 2PC', () => handWrittenTransfer(logConn, otherConn, randomAccount(), randomAccount(), (id) => forget.add(id))],
  ]
  const samples = new Map<string, Sample[]>(variants.map(([name]) => [name, []]))
  for (let w = 0; w <= windows; w++) {
    for (const [name, transfer] of w % 2 === 0 ? variants : [...variants].reverse()) {
      const pgBefore = pgCpuMs()!
      const mariadbBefore = mariadbCpuMs()!
      const client = process.cpuUsage()
      const started = performance.now()
      for (let i = 0; i < perWindow; i++) await transfer()
      const wall = performance.now() - started
      const used = process.cpuUsage(client)
      // The first window of each variant warms it up and is not counted.
      if (w === 0) continue
      samples.get(name)!.push({
        pgUs: ((pgCpuMs()! - pgBefore) * 1000) / perWindow,
        mariadbUs: ((mariadbCpuMs()! - mariadbBefore) * 1000) / perWindow,
        clientUs: (used.user + used.system) / perWindow,
        wallUs: (wall * 1000) / perWindow,
      })
    }
  }
  setFenceForBenchmark(true)
  console.log(`${perWindow} transfers × ${windows} windows per variant; medians, µs per transfer`)
  console.log('| variant | PostgreSQL CPU | MariaDB CPU | this process CPU | wall |\n|---|---:|---:|---:|---:|')
  for (const [name, rows] of samples) {
    const figure = (pick: (s: Sample) => number): string => median(rows.map(pick)).toFixed(0)
    console.log(`| ${name} | ${figure((s) => s.pgUs)} | ${figure((s) => s.mariadbUs)} | ${figure((s) => s.clientUs)} | ${figure((s) => s.wallUs)} |`)
  }
  await forget.close()
  await Promise.all([cluster.close(), unlabelled.close(), logConn.close(), otherConn.close(), forgetConn.close()])
} finally {
  await local.destroy()
}
