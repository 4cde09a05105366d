import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createCluster, type ShardConfig } from '../src/index.js'
import type { HotSpotProcessCounts, HotSpotProcessPlan } from './hot-spot-process.js'

const CHILD = fileURLToPath(new URL('./hot-spot-process.ts', import.meta.url))
const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
const TABLE = 'hot_rows_mp'
const LOCK_TIMEOUT_MS = 5_000

/** What a configuration runs with beside the defaults (the lane on, MariaDB's read windows on). */
export type HotSpotVariant = 'defaults' | 'lane off' | 'read windows off'

/** One configuration's sums over its processes. */
export interface HotSpotProcessesResult {
  processes: number
  clients: number
  variant: HotSpotVariant
  commitsPerSec: number
  victims: number
  lockTimeouts: number
  otherFailures: number
  /** Attempts that ran holding the lane, over all processes. */
  laneHeld: number
  /** Each process's median wait from a victim's statement to its abort, ms. */
  waitToVictimP50Ms: string
}

/**
 * Hot rows across processes: P processes (each its own cluster, pools, deadlock
 * detector and admission gate) with C clients each move 1 between two of 4 hot
 * rows, one per shard (2 PostgreSQL + 2 MariaDB), with `lockTimeout` 5 s. Each
 * configuration runs three ways, in rotating order: with the defaults; with
 * `clusterLane: false`, which leaves each process to its own limit, so that
 * processes deadlock with each other again and again; and with MariaDB's read
 * windows off (a bench-only switch): with several processes reading InnoDB's lock
 * views, InnoDB stops refreshing them unless the reads leave it idle 100 ms
 * (docs/deadlocks.md), and cycles then last until the lock timeout.
 */
export async function measureHotSpotProcesses(
  shards: ShardConfig[],
  options: { quick: boolean; log: (line: string) => void },
): Promise<{ results: HotSpotProcessesResult[]; ratios: { processes: number; clients: number; laneOnToOff: number; windowsOnToOff: number }[] }> {
  const used = shards.filter((s) => SHARDS.includes(s.id))
  const durationMs = options.quick ? 3_000 : 10_000
  const results: HotSpotProcessesResult[] = []
  const configs: [number, number][] = [
    [4, 4],
    [8, 2],
  ]
  const variants: HotSpotVariant[] = ['defaults', 'lane off', 'read windows off']
  for (const [i, [processes, clients]] of configs.entries()) {
    for (const variant of [...variants.slice(i % 3), ...variants.slice(0, i % 3)]) {
      await resetRows(used)
      const plan: HotSpotProcessPlan = {
        shards: used,
        table: TABLE,
        clients,
        durationMs,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        readWindows: variant !== 'read windows off',
        clusterLane: variant !== 'lane off',
      }
      const counts = await Promise.all(Array.from({ length: processes }, () => runProcess(plan)))
      // Each process's own time under load (its start-up left out), the longest.
      const elapsedS = Math.max(...counts.map((c) => c.elapsedMs)) / 1000
      const sum = (key: 'commits' | 'victims' | 'lockTimeouts' | 'otherFailures' | 'laneHeld') => counts.reduce((n, c) => n + c[key], 0)
      const result: HotSpotProcessesResult = {
        processes,
        clients,
        variant,
        commitsPerSec: sum('commits') / elapsedS,
        victims: sum('victims'),
        lockTimeouts: sum('lockTimeouts'),
        otherFailures: sum('otherFailures'),
        laneHeld: sum('laneHeld'),
        waitToVictimP50Ms: counts.map((c) => (c.waitToVictimP50Ms === undefined ? '-' : c.waitToVictimP50Ms.toFixed(0))).join(' '),
      }
      results.push(result)
      options.log(
        `hot-spot ${processes} processes x ${clients} clients, ${variant}: ` +
          `${result.commitsPerSec.toFixed(1)} commits/s, ${result.victims} deadlock victims, ${result.lockTimeouts} lock timeouts, ` +
          `${result.otherFailures} other failures, ${result.laneHeld} attempts through the lane, wait→victim p50 by process ${result.waitToVictimP50Ms} ms`,
      )
    }
  }
  const ratios = configs.map(([processes, clients]) => {
    const at = (variant: HotSpotVariant) => results.find((r) => r.processes === processes && r.variant === variant)!.commitsPerSec
    const ratio = (a: number, b: number) => a / Math.max(b, Number.MIN_VALUE)
    return { processes, clients, laneOnToOff: ratio(at('defaults'), at('lane off')), windowsOnToOff: ratio(at('defaults'), at('read windows off')) }
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
