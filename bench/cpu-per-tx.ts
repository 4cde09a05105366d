/**
 * `npm run bench:cpu`: CPU time of this process per sequential W1 transfer
 * (PG ↔ MariaDB, log shard inside), the figure issue #19 asks to cut. One client,
 * so the servers' speed and other processes on the machine move throughput but
 * hardly the CPU the library spends per transaction. With `--against DIR` the
 * same windows alternate between this checkout and another one (`git worktree
 * add DIR main`), in one process and on the same servers.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Session } from 'node:inspector/promises'
import { createCluster } from '../src/index.js'
import { positiveIntFlag, scriptFlags } from '../scripts/script-flags.js'
import { setFenceForBenchmark } from '../src/topology/fence-switch.js'
import { shardtxTransfer } from './transfer.js'
import { startTwoServerCluster } from './two-server-cluster.js'

const HELP = `npm run bench:cpu -- [flags]

CPU ms per sequential W1 transfer (PostgreSQL ↔ MariaDB, the log shard inside),
over several windows on throwaway servers it starts (1 PostgreSQL + 1 MariaDB).

  --tx N          transfers per window (default 2000)
  --windows N     measured windows per build (default 5); one unmeasured warm-up window first
  --against DIR   also measure the checkout in DIR, alternating windows with this one
  --no-propagation  createCluster({ propagation: false }) (no AsyncLocalStorage)
  --fence-off     also measure this checkout with the topology epoch fence switched off
                  (the bench-only switch), alternating windows with it on
  --profile FILE  write a V8 CPU profile of the measured windows only (open it in Chrome DevTools)
  --sampling-us N the profile's sampling interval in µs (default 1000; 50 shows short functions)
  --json          machine-readable output on stdout
  -h, --help      this text
`
const flags = scriptFlags('bench:cpu', HELP, {
  tx: { type: 'string', default: '2000' },
  windows: { type: 'string', default: '5' },
  against: { type: 'string' },
  'no-propagation': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  profile: { type: 'string' },
  'sampling-us': { type: 'string', default: '1000' },
  'fence-off': { type: 'boolean', default: false },
})
const perWindow = positiveIntFlag('bench:cpu', 'tx', flags.tx!)
const windows = positiveIntFlag('bench:cpu', 'windows', flags.windows!)
const samplingUs = positiveIntFlag('bench:cpu', 'sampling-us', flags['sampling-us']!)

type CreateCluster = typeof createCluster
const builds: { name: string; create: CreateCluster; fence?: boolean }[] = [{ name: 'this checkout', create: createCluster, fence: true }]
if (flags['fence-off']) builds.push({ name: 'this checkout, fence off', create: createCluster, fence: false })
if (flags.against !== undefined) {
  // DIR as typed on the command line: relative to where the command runs, not to this file.
  const entry = pathToFileURL(resolve(flags.against, 'src/index.ts')).href
  const other = (await import(entry)) as { createCluster: CreateCluster }
  builds.push({ name: flags.against, create: other.createCluster })
}

// With --no-propagation no cluster of this process may run AsyncLocalStorage: once run, its promise hooks stay on.
const local = await startTwoServerCluster({ durable: false, propagation: !flags['no-propagation'] })
try {
  const shards = local.shards

  const clusters = builds.map((b) => b.create({ shards, log: 'pg-0', recovery: false, propagation: !flags['no-propagation'] }))
  const [from, to] = ['pg-0', 'my-0']
  const window = async (i: number): Promise<number> => {
    const cluster = clusters[i]!
    if (builds[i]!.fence !== undefined) setFenceForBenchmark(builds[i]!.fence!)
    const before = process.cpuUsage()
    for (let n = 0; n < perWindow; n++) await shardtxTransfer(cluster, from, to)
    const used = process.cpuUsage(before)
    return (used.user + used.system) / 1000 / perWindow
  }
  for (let i = 0; i < builds.length; i++) await window(i)
  const results: number[][] = builds.map(() => [])
  const profiler = flags.profile === undefined ? undefined : new Session()
  if (profiler !== undefined) {
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.setSamplingInterval', { interval: samplingUs })
    await profiler.post('Profiler.start')
  }
  for (let w = 0; w < windows; w++) {
    const order = builds.map((_, i) => i)
    if (w % 2 === 1) order.reverse()
    for (const i of order) results[i]!.push(await window(i))
  }
  if (profiler !== undefined) {
    const { profile } = await profiler.post('Profiler.stop')
    await writeFile(flags.profile!, JSON.stringify(profile))
    profiler.disconnect()
  }
  await Promise.all(clusters.map((c) => c.close()))

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
  }
  const summary = builds.map((b, i) => ({ build: b.name, windowsMsPerTx: results[i]!, medianMsPerTx: median(results[i]!) }))
  if (flags.json) console.log(JSON.stringify({ perWindow, windows, propagation: !flags['no-propagation'], summary }, null, 2))
  else {
    for (const s of summary) {
      console.log(`${s.build}: median ${s.medianMsPerTx.toFixed(3)} CPU ms/tx; windows ${s.windowsMsPerTx.map((x) => x.toFixed(3)).join(' ')}`)
    }
    if (summary.length === 2) {
      // Windows of one round ran back to back, under about the same load from the rest of the machine.
      const paired = results[0]!.map((x, w) => x / results[1]![w]!)
      console.log(`ratio this / other: of medians ${(summary[0]!.medianMsPerTx / summary[1]!.medianMsPerTx).toFixed(3)}, median of per-round ratios ${median(paired).toFixed(3)} (${paired.map((r) => r.toFixed(2)).join(' ')})`)
    }
  }
} finally {
  await local.destroy()
}
