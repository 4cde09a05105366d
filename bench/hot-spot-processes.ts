import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createCluster, type ShardConfig } from '../src/index.js'
import type { HotSpotProcessCounts, HotSpotProcessPlan } from './hot-spot-process.js'

const CHILD = fileURLToPath(new URL('./hot-spot-process.ts', import.meta.url))
const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
const TABLE = 'hot_rows_mp'
const LOCK_TIMEOUT_MS = 5_000

/** One configuration's sums over its processes. */
export interface HotSpotProcessesResult {
  processes: number
  clients: number
  readWindows: boolean
  commitsPerSec: number
  victims: number
  lockTimeouts: number
  otherFailures: number
  /** Each process's median wait from a victim's statement to its abort, ms. */
  waitToVictimP50Ms: string
}

/**
 * Hot rows across processes: P processes (each its own cluster, pools and
 * deadlock detector) with C clients each move 1 between two of 4 hot rows, one
 * per shard (2 PostgreSQL + 2 MariaDB), with `lockTimeout` 5 s. Each
 * configuration runs with MariaDB's read windows on and off (a bench-only
 * switch), in alternating order: with several processes reading InnoDB's lock
 * views, InnoDB stops refreshing them unless the reads leave it idle 100 ms
 * (docs/deadlocks.md), and cycles then last until the lock timeout.
 */
export async function measureHotSpotProcesses(
  shards: ShardConfig[],
  options: { quick: boolean; log: (line: string) => void },
): Promise<{ results: HotSpotProcessesResult[]; ratios: { processes: number; clients: number; commitsOnToOff: number }[] }> {
  const used = shards.filter((s) => SHARDS.includes(s.id))
  const durationMs = options.quick ? 3_000 : 10_000
  const results: HotSpotProcessesResult[] = []
  const configs: [number, number][] = [
    [4, 4],
    [8, 2],
  ]
  for (const [i, [processes, clients]] of configs.entries()) {
    for (const readWindows of i % 2 === 0 ? [true, false] : [false, true]) {
      await resetRows(used)
      const plan: HotSpotProcessPlan = { shards: used, table: TABLE, clients, durationMs, lockTimeoutMs: LOCK_TIMEOUT_MS, readWindows }
      const counts = await Promise.all(Array.from({ length: processes }, () => runProcess(plan)))
      // Each process's own time under load (its start-up left out), the longest.
      const elapsedS = Math.max(...counts.map((c) => c.elapsedMs)) / 1000
      const sum = (key: 'commits' | 'victims' | 'lockTimeouts' | 'otherFailures') => counts.reduce((n, c) => n + c[key], 0)
      const result: HotSpotProcessesResult = {
        processes,
        clients,
        readWindows,
        commitsPerSec: sum('commits') / elapsedS,
        victims: sum('victims'),
        lockTimeouts: sum('lockTimeouts'),
        otherFailures: sum('otherFailures'),
        waitToVictimP50Ms: counts.map((c) => (c.waitToVictimP50Ms === undefined ? '-' : c.waitToVictimP50Ms.toFixed(0))).join(' '),
      }
      results.push(result)
      options.log(
        `hot-spot ${processes} processes x ${clients} clients, read windows ${readWindows ? 'on' : 'off'}: ` +
          `${result.commitsPerSec.toFixed(1)} commits/s, ${result.victims} deadlock victims, ${result.lockTimeouts} lock timeouts, ` +
          `${result.otherFailures} other failures, wait→victim p50 by process ${result.waitToVictimP50Ms} ms`,
      )
    }
  }
  const ratios = configs.map(([processes, clients]) => {
    const at = (on: boolean) => results.find((r) => r.processes === processes && r.readWindows === on)!.commitsPerSec
    return { processes, clients, commitsOnToOff: at(true) / Math.max(at(false), Number.MIN_VALUE) }
  })
  return { results, ratios }
}

/** Hot row i on shard i, at a balance no run can exhaust. */
async function resetRows(shards: ShardConfig[]): Promise<void> {
  const setup = createCluster({ shards, log: shards[0]!.id, recovery: false })
  try {
    await setup.migrate()
    await Promise.all(
      SHARDS.map(async (shardId, i) => {
        const knex = setup.forShard(shardId)
        await knex.schema.dropTableIfExists(TABLE)
        await knex.schema.createTable(TABLE, (t) => {
          t.integer('id').primary()
          t.bigInteger('balance').notNullable()
        })
        await knex(TABLE).insert({ id: i, balance: 1_000_000 })
      }),
    )
  } finally {
    await setup.close()
  }
}

function runProcess(plan: HotSpotProcessPlan): Promise<HotSpotProcessCounts> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [JSON.stringify(plan)], { execArgv: ['--import', 'tsx'] })
    let counts: HotSpotProcessCounts | undefined
    child.on('message', (message: HotSpotProcessCounts) => (counts = message))
    child.on('exit', (code) => (counts === undefined ? reject(new Error(`a hot-spot process exited with ${code} before reporting`)) : resolve(counts)))
  })
}
