/**
 * One process of the multi-process hot-spot bench (bench/hot-spot-processes.ts):
 * `clients` closed loops moving 1 between two of the hot rows (one per shard) for
 * `durationMs`, then one message with its counts to the parent, and exit.
 */
import { setReadWindowsForBenchmark } from '../adapters/mysql/innodb-view-window.js'
import { ConflictError, createCluster, DistributedDeadlockError, type ShardConfig } from '../src/index.js'

export interface HotSpotProcessPlan {
  shards: ShardConfig[]
  table: string
  clients: number
  durationMs: number
  lockTimeoutMs: number
  readWindows: boolean
  clusterLane: boolean
}

export interface HotSpotProcessCounts {
  commits: number
  victims: number
  lockTimeouts: number
  otherFailures: number
  /** Attempts that ran holding the lane. */
  laneHeld: number
  waitToVictimP50Ms: number | undefined
  /** From the first transaction's start to the last one's end. */
  elapsedMs: number
}

const plan = JSON.parse(process.argv[2] ?? 'null') as HotSpotProcessPlan | null
if (plan === null || process.send === undefined) {
  process.stderr.write('bench/hot-spot-process.ts is started by bench/hot-spot-processes.ts\n')
  process.exit(2)
}
setReadWindowsForBenchmark(plan.readWindows)
const ids = plan.shards.map((s) => s.id)
const cluster = createCluster({ shards: plan.shards, log: ids[0]!, recovery: false, lockTimeout: plan.lockTimeoutMs, clusterLane: plan.clusterLane })
const counts: HotSpotProcessCounts = { commits: 0, victims: 0, lockTimeouts: 0, otherFailures: 0, laneHeld: 0, waitToVictimP50Ms: undefined, elapsedMs: 0 }
const started = performance.now()
await Promise.all(
  Array.from({ length: plan.clients }, async () => {
    while (performance.now() - started < plan.durationMs) {
      const from = Math.floor(Math.random() * ids.length)
      const to = (from + 1 + Math.floor(Math.random() * (ids.length - 1))) % ids.length
      try {
        await cluster.transaction(async (tx) => {
          await tx.forShard(ids[from]!)(plan.table).where({ id: from }).decrement('balance', 1)
          await tx.forShard(ids[to]!)(plan.table).where({ id: to }).increment('balance', 1)
        })
        counts.commits++
      } catch (error) {
        if (error instanceof DistributedDeadlockError) counts.victims++
        else if (error instanceof ConflictError) counts.lockTimeouts++
        else counts.otherFailures++
      }
    }
  }),
)
counts.elapsedMs = performance.now() - started
counts.waitToVictimP50Ms = cluster.stats().deadlocks.waitToVictimMs.p50Ms
counts.laneHeld = cluster.stats().admission.lane.held
await cluster.close()
process.send(counts, () => process.exit(0))
