import { type ClusterOptions, createCluster, DistributedDeadlockError, type ShardConfig } from '../src/index.js'

/** One hot-spot configuration's figures. */
export interface HotSpotResult {
  hotRows: number
  clients: number
  retry: boolean
  /** Committed calls of `cluster.transaction` over all that settled. */
  commitRatio: number
  /** Commits per second. */
  txPerSec: number
  /** Of committed calls, retries included. */
  p99Ms: number
  /** Victims the detector aborted (each retried attempt counts). */
  deadlocks: number
  /** From the victim's statement being sent to its abort, median and max. */
  waitToVictimP50Ms: number | undefined
  waitToVictimMaxMs: number | undefined
  firstError?: string
}

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
const TABLE = 'hot_rows'

/**
 * Issue 16's hot-spot benchmark: N clients in a closed loop move 1 between two
 * hot rows on two different shards; H hot rows are spread evenly over 2 PostgreSQL
 * and 2 MariaDB shards. Default cluster settings (pools, lock timeouts, deadlock
 * detection), with and without `retry: { attempts: 10 }`.
 */
export async function measureHotSpots(
  shards: ShardConfig[],
  options: { quick: boolean; log: (line: string) => void; cluster?: Partial<ClusterOptions> },
): Promise<{ results: HotSpotResult[]; ratios: { hotRows: number; retry: boolean; ratio64to4: number; ratio64to16: number }[] }> {
  const used = shards.filter((s) => SHARDS.includes(s.id))
  const durationMs = options.quick ? 1_500 : 5_000
  const results: HotSpotResult[] = []
  for (const hotRows of [4, 64]) {
    for (const retry of [false, true]) {
      for (const clients of [4, 16, 64]) {
        const cluster = createCluster({ shards: used, log: 'pg-0', recovery: false, ...options.cluster })
        try {
          await cluster.migrate()
          await resetRows(cluster, hotRows)
          const result = await closedLoop(cluster, hotRows, clients, retry, durationMs)
          results.push(result)
          options.log(
            `hot-spot H=${hotRows} clients=${clients} retry=${retry}: ${result.txPerSec.toFixed(0)} tx/s, ` +
              `commit ratio ${result.commitRatio.toFixed(3)}, p99 ${result.p99Ms.toFixed(0)} ms, ${result.deadlocks} deadlocks, ` +
              `wait→victim p50 ${result.waitToVictimP50Ms?.toFixed(0) ?? '-'} ms` +
              (result.firstError === undefined ? '' : `; first error: ${result.firstError}`),
          )
        } finally {
          await cluster.close()
        }
      }
    }
  }
  const ratios = []
  for (const hotRows of [4, 64]) {
    for (const retry of [false, true]) {
      const at = (clients: number) => results.find((r) => r.hotRows === hotRows && r.retry === retry && r.clients === clients)!.txPerSec
      ratios.push({ hotRows, retry, ratio64to4: at(64) / at(4), ratio64to16: at(64) / at(16) })
    }
  }
  return { results, ratios }
}

type BenchCluster = ReturnType<typeof createCluster>

/** Hot row i lives on shard i mod 4, so every shard holds H / 4 of them. */
async function resetRows(cluster: BenchCluster, hotRows: number): Promise<void> {
  await Promise.all(
    SHARDS.map(async (shardId, s) => {
      const knex = cluster.forShard(shardId)
      await knex.schema.dropTableIfExists(TABLE)
      await knex.schema.createTable(TABLE, (t) => {
        t.integer('id').primary()
        t.bigInteger('balance').notNullable()
      })
      const ids = Array.from({ length: hotRows }, (_, i) => i).filter((i) => i % SHARDS.length === s)
      await knex(TABLE).insert(ids.map((id) => ({ id, balance: 1_000_000 })))
    }),
  )
}

async function closedLoop(cluster: BenchCluster, hotRows: number, clients: number, retry: boolean, durationMs: number): Promise<HotSpotResult> {
  const latencies: number[] = []
  let failures = 0
  let firstError: string | undefined
  const started = performance.now()
  const victimsBefore = cluster.stats().deadlocks.victims
  const client = async (): Promise<void> => {
    while (performance.now() - started < durationMs) {
      const from = Math.floor(Math.random() * hotRows)
      // A row on another shard: add 1 to 3 to the shard index, keep the row's place on it.
      let to = (from + 1 + Math.floor(Math.random() * (SHARDS.length - 1))) % SHARDS.length
      to += SHARDS.length * Math.floor((Math.random() * hotRows) / SHARDS.length)
      const t0 = performance.now()
      try {
        await cluster.transaction(
          async (tx) => {
            await tx.forShard(SHARDS[from % SHARDS.length]!)(TABLE).where({ id: from }).decrement('balance', 1)
            await tx.forShard(SHARDS[to % SHARDS.length]!)(TABLE).where({ id: to }).increment('balance', 1)
          },
          retry ? { retry: { attempts: 10 } } : {},
        )
        latencies.push(performance.now() - t0)
      } catch (error) {
        failures++
        if (!(error instanceof DistributedDeadlockError)) firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client))
  const elapsedS = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const { deadlocks } = cluster.stats()
  return {
    hotRows,
    clients,
    retry,
    commitRatio: latencies.length / Math.max(1, latencies.length + failures),
    txPerSec: latencies.length / elapsedS,
    p99Ms: latencies[Math.min(latencies.length - 1, Math.floor(0.99 * latencies.length))] ?? NaN,
    deadlocks: deadlocks.victims - victimsBefore,
    waitToVictimP50Ms: deadlocks.waitToVictimMs.p50Ms,
    waitToVictimMaxMs: deadlocks.waitToVictimMs.maxMs,
    ...(firstError === undefined ? {} : { firstError }),
  }
}
