import { type Cluster, ConflictError, createCluster, KeyMovingError, type ShardConfig, StaleTopologyError } from '../src/index.js'
import { type LocalCluster, startLocalCluster } from '../src/testing/index.js'
import { sleep } from './measure.js'
import { keyedTransfer } from './transfer.js'
import { BenchMover } from './reshard-mover.js'
import { DEFAULT_BATCH_SIZE, DEFAULT_DUTY_CYCLE } from '../src/resharding/reshard-options.js'

const TABLE = 'accounts'
const PREFIX = 'rsb_'
const LOG_TABLE = 'rsb_log'
/** The defaults of `ReshardOptions`: the wait goal is about the default batch size. */
export { DEFAULT_BATCH_SIZE, DEFAULT_DUTY_CYCLE }

/** What `npm run bench -- --only reshard` measures (issue 18's figures). */
export interface ReshardBenchResult {
  rows: number
  from: string[]
  to: string[]
  /** (a) The whole 4→5 job at the default options, no application load. */
  job: { batches: number; rowsMoved: number; seconds: number; rowsPerSecond: number }
  windowMs: number
  pairs: number
  /** Rows the mover moved during the windows and batches it ran, over both directions. */
  moverInWindows: { rows: number; batches: number; jobs: number; rowsPerSecond: number }
  /**
   * Per mover setting: (b) W1 (by key, cross-shard) tx/s in alternating windows of one
   * run, the mover running and paused; (c) per transfer the mover refused at least
   * once, how long it waited: its first attempt's start to the start of the attempt
   * that committed, in ms (and, beside it, to its commit).
   */
  configs: {
    batchSize: number
    dutyCycle: number
    withMover: number[]
    without: number[]
    ratio: number
    medianRatio: number
    batchHoldMs: { batches: number; p50: number; p99: number }
    waits: { transfers: number; refusals: Record<string, number>; p50Ms: number; p99Ms: number; maxMs: number; toCommitP50Ms: number; toCommitP99Ms: number }
  }[]
  /** Plain latency of W1 in the windows without the mover, for scale. */
  w1WithoutMoverP50Ms: number
  w1WithoutMoverP99Ms: number
  placement: { misplaced: number; rows: number }
  loadAverage: number[]
}

interface Config {
  batchSize: number
  dutyCycle: number
  withMover: number[]
  without: number[]
  waits: number[]
  toCommit: number[]
  refusals: Record<string, number>
  quiet: number[]
  steps: number[]
}

const round1 = (n: number): number => Number(n.toFixed(1))

interface Outcome {
  startedAt: number
  /** When the attempt that committed began: what came before it was the mover's doing. */
  lastAttemptAt: number
  committedAt: number
  /** Refusals by the mover before the commit, by kind (55P03, 1205, stale). */
  refusals: string[]
}

/**
 * Issue 18's figures: 4 servers (2 PostgreSQL, 2 MariaDB, one database of each
 * server of the bench's cluster) grow to 5 (a MariaDB server started here),
 * with `rows` accounts in a sharded `accounts` table.
 *
 * (a) the whole 4→5 job at the default batch size and duty cycle, nothing else
 * running: rows moved per second.
 * (b) then new jobs 5→4→5…, each planned with the setting measured, run in pieces: W1 (a
 * cross-shard transfer by key, 16 clients, retried) runs throughout, and
 * windows with the mover running (at `dutyCycle`) alternate with windows with
 * it paused (order alternating by pair). W1 tx/s with / without.
 * (c) every transfer that the mover refused (a key of the batch being moved, a
 * fence held: ConflictError 55P03 / 1205, a fence raised: StaleTopologyError) is
 * retried; its wait is the time from its first attempt's start to the start of
 * the attempt that committed: everything the mover cost it. The committing
 * attempt's own run, which a transfer pays with or without a mover, is reported
 * beside it (first attempt to commit). p50 / p99 per setting.
 *
 * The mover runs in a process of its own (bench/reshard-mover-child.ts), as
 * `shardtx reshard start` does: it shares the machine's cores with the
 * application, not its event loop.
 */
export async function measureReshard(
  local: LocalCluster,
  options: { quick: boolean; log: (line: string) => void },
): Promise<ReshardBenchResult> {
  const { quick, log } = options
  const rows = quick ? 20_000 : 100_000
  const loadAverage = (await import('node:os')).loadavg().map((n) => Number(n.toFixed(2)))
  // One database on each of the bench's four servers; the fifth server is started here.
  const servers = new Map<string, ShardConfig>()
  for (const shard of local.shards) {
    const server = local.server(shard.id)
    const name = `${server.dialect}:${server.port}`
    // The second database of each server: the first ones carry the other parts' accounts.
    if (server.shardIds.at(-1) === shard.id && !servers.has(name)) servers.set(name, shard)
  }
  const four = [...servers.values()].map((s) => ({ ...s, pool: { max: 40 } }))
  log(`reshard: starting a fifth server (MariaDB) for ${four.map((s) => s.id).join(', ')} → + my-4`)
  const extra = await startLocalCluster({ mysql: 1, durable: true })
  const fifth = { ...extra.shards[0]!, id: 'my-4', pool: { max: 40 } }
  const every = [...four, fifth]
  const logShard = four.find((s) => s.dialect === 'postgres')!.id
  const common = { prefix: PREFIX, logTable: LOG_TABLE, log: logShard, recovery: false as const, tables: { [TABLE]: { shardKey: 'id' } } }
  const opened: Cluster[] = []
  const open = (shards: ShardConfig[], more: Record<string, unknown> = {}): Cluster => {
    const cluster = createCluster({ ...common, shards, ...more })
    opened.push(cluster)
    return cluster
  }
  const child = new BenchMover()
  try {
    // The parent's cluster over all five shards prepares, inspects and checks; the moving is the child's.
    const mover = open(every, { topology: 'follow' })
    await mover.migrate()
    await Promise.all(
      every.map(async (shard) => {
        const knex = mover.forShard(shard.id)
        await knex.schema.dropTableIfExists(TABLE)
        await knex.schema.createTable(TABLE, (t) => {
          t.integer('id').primary()
          t.bigInteger('balance').notNullable()
        })
      }),
    )
    // The first process configured with the four shards stores them as the topology.
    const setup = open(four)
    const ids = Array.from({ length: rows }, (_, i) => i + 1)
    const started = performance.now()
    await Promise.all(
      four.map(async (shard) => {
        const mine = ids.filter((id) => setup.shardFor(id) === shard.id)
        for (let i = 0; i < mine.length; i += 1_000) {
          await setup.forShard(shard.id)(TABLE).insert(mine.slice(i, i + 1_000).map((id) => ({ id, balance: 1_000_000 })))
        }
      }),
    )
    await setup.transaction(async () => {}) // stores the 4-shard topology on the log shard
    log(`reshard: ${rows} accounts on ${four.map((s) => s.id).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    const small = four.map((s) => ({ id: s.id }))
    const large = every.map((s) => ({ id: s.id }))
    const plan = await mover.reshardPlan(large)
    if (plan.problems.length > 0) throw new Error(`reshard plan problems: ${plan.problems.join('; ')}`)

    await child.ask({ op: 'open', options: { ...common, shards: every, topology: 'follow' } })

    // (a) The whole job, alone.
    const done = await child.ask<{ batches: number; rowsMoved: number; ms: number }>({ op: 'reshard', target: large })
    const seconds = done.ms / 1000
    const job = { batches: done.batches, rowsMoved: done.rowsMoved, seconds: Number(seconds.toFixed(2)), rowsPerSecond: Math.round(done.rowsMoved / seconds) }
    log(`reshard: (a) 4→5 job: ${job.rowsMoved} rows in ${job.batches} batches, ${job.seconds} s, ${job.rowsPerSecond} rows/s`)

    // (b) and (c): W1 throughout, the mover in alternate windows.
    const app = open(every, { topology: 'follow' })
    const windowMs = quick ? 1_500 : 3_000
    const pairs = quick ? 3 : 8
    const configs = quick
      ? [{ batchSize: DEFAULT_BATCH_SIZE, dutyCycle: DEFAULT_DUTY_CYCLE }]
      : [
          { batchSize: DEFAULT_BATCH_SIZE, dutyCycle: DEFAULT_DUTY_CYCLE },
          { batchSize: DEFAULT_BATCH_SIZE, dutyCycle: 0.5 },
          { batchSize: 100, dutyCycle: DEFAULT_DUTY_CYCLE },
        ]
    const outcomes: Outcome[] = []
    let errors = 0
    let firstError: string | undefined
    let stop = false
    const client = async (): Promise<void> => {
      while (!stop) {
        const refusals: string[] = []
        const startedAt = performance.now()
        let lastAttemptAt = startedAt
        try {
          await keyedTransfer(app, TABLE, rows, {
            attempts: 100,
            backoff: (n, error) => {
              refusals.push(refusalKind(error))
              const delay = Math.random() * Math.min(100, 5 * 2 ** (n - 1))
              lastAttemptAt = performance.now() + delay
              return delay
            },
          })
          outcomes.push({ startedAt, lastAttemptAt, committedAt: performance.now(), refusals })
        } catch (error) {
          errors++
          firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
    }
    const clients = Array.from({ length: 16 }, client)
    await sleep(1_000)

    // The mover runs the job in pieces: a window's signal stops it at a batch boundary;
    // a finished job is followed by one back to the other set, so the moves never run out.
    let moverRows = 0
    let moverBatches = 0
    let moverMs = 0
    let jobs = 0
    /** Runs the mover for about `ms`; resolves with each batch's working time (its freeze and its move), estimated from the gaps between reports × the duty cycle. */
    const moveFor = async (ms: number, batchSize: number, dutyCycle: number): Promise<number[]> => {
      const ran = await child.ask<{ steps: number[]; rows: number; batches: number; jobs: number; ms: number }>({
        op: 'moveFor',
        ms,
        batchSize,
        dutyCycle,
        sets: [small.map((s) => s.id), large.map((s) => s.id)],
      })
      moverRows += ran.rows
      moverBatches += ran.batches
      moverMs += ran.ms
      jobs += ran.jobs
      return ran.steps
    }
    const results: Config[] = []
    for (const config of configs) {
      // The job in progress is finished between settings, towards where it was going.
      const status = await mover.reshardStatus()
      if (status?.state === 'running') await child.ask({ op: 'reshard', target: status.to.map((id) => ({ id })), batchSize: config.batchSize })
      const { batchSize, dutyCycle } = config
      const r: Config = { batchSize, dutyCycle, withMover: [], without: [], waits: [], toCommit: [], refusals: {}, quiet: [], steps: [] }
      results.push(r)
      for (let pair = 0; pair < pairs; pair++) {
        for (const moving of pair % 2 === 0 ? [true, false] : [false, true]) {
          const from = performance.now()
          if (moving) r.steps.push(...(await moveFor(windowMs, batchSize, dutyCycle)))
          else await sleep(windowMs)
          const to = performance.now()
          const inWindow = outcomes.filter((o) => o.committedAt >= from && o.committedAt < to)
          const txPerSec = (inWindow.length / (to - from)) * 1000
          ;(moving ? r.withMover : r.without).push(txPerSec)
          if (!moving) r.quiet.push(...inWindow.map((o) => o.committedAt - o.startedAt))
          // By commit time: a transfer refused near a window's end counts where it committed.
          for (const o of inWindow) {
            if (!o.refusals.some((kind) => MOVER_REFUSALS.has(kind))) continue
            r.waits.push(o.lastAttemptAt - o.startedAt)
            r.toCommit.push(o.committedAt - o.startedAt)
            for (const kind of o.refusals) r.refusals[kind] = (r.refusals[kind] ?? 0) + 1
          }
          log(`reshard: batch size ${batchSize} duty cycle ${dutyCycle} pair ${pair} ${moving ? 'mover running' : 'mover paused '}: W1 ${txPerSec.toFixed(0)} tx/s`)
        }
      }
    }
    stop = true
    await Promise.all(clients)
    if (errors > 0) log(`reshard: ${errors} transfers failed after their retries; first: ${firstError}`)
    // Leave the job finished either way, then check placement.
    const last = await mover.reshardStatus()
    if (last?.state === 'running') await child.ask({ op: 'reshard', target: last.to.map((id) => ({ id })) })
    else if (last?.state === 'reversing' || last?.state === 'cancelled') await mover.reverseReshard()
    const placement = await mover.verifyPlacement()
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)
    const quantile = (values: number[], q: number): number => {
      const sorted = [...values].sort((a, b) => a - b)
      return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
    }
    const quiet = results.flatMap((r) => r.quiet)
    return {
      rows,
      from: small.map((s) => s.id),
      to: large.map((s) => s.id),
      job,
      windowMs,
      pairs,
      moverInWindows: { rows: moverRows, batches: moverBatches, jobs, rowsPerSecond: Math.round(moverRows / (moverMs / 1000)) },
      configs: results.map((r) => ({
        batchSize: r.batchSize,
        dutyCycle: r.dutyCycle,
        withMover: r.withMover.map(Math.round),
        without: r.without.map(Math.round),
        ratio: Number((sum(r.withMover) / sum(r.without)).toFixed(3)),
        medianRatio: Number(quantile(r.withMover.map((w, i) => w / r.without[i]!), 0.5).toFixed(3)),
        batchHoldMs: { batches: r.steps.length, p50: round1(quantile(r.steps, 0.5)), p99: round1(quantile(r.steps, 0.99)) },
        waits: {
          transfers: r.waits.length,
          refusals: r.refusals,
          p50Ms: round1(quantile(r.waits, 0.5)),
          p99Ms: round1(quantile(r.waits, 0.99)),
          maxMs: round1(quantile(r.waits, 1)),
          toCommitP50Ms: round1(quantile(r.toCommit, 0.5)),
          toCommitP99Ms: round1(quantile(r.toCommit, 0.99)),
        },
      })),
      w1WithoutMoverP50Ms: round1(quantile(quiet, 0.5)),
      w1WithoutMoverP99Ms: round1(quantile(quiet, 0.99)),
      placement: { misplaced: placement.misplaced.reduce((n, m) => n + m.rows, 0), rows: placement.tables[0]?.rows ?? 0 },
      loadAverage,
    }
  } finally {
    await child.close()
    await Promise.all(opened.map((c) => c.close().catch(() => {})))
    await extra.destroy()
  }
}

const MOVER_REFUSALS = new Set(['key moving', 'stale topology', 'conflict 55P03', 'conflict 1205'])

/** Why the mover refused an attempt: a key of the batch being moved, the fence held (55P03 / 1205, NOWAIT) or the epoch moved on; else `other`. */
function refusalKind(error: unknown): string {
  for (let e = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    if (e instanceof KeyMovingError) return 'key moving'
    if (e instanceof StaleTopologyError) return 'stale topology'
    if (e instanceof ConflictError) return `conflict ${e.serverCode}`
  }
  return error instanceof Error ? `other ${error.name}` : 'other'
}
