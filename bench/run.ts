/**
 * `npm run bench`: shardtx against what users would do instead, in one run on
 * the same throwaway servers (durable: fsync on). Prints a table of tx/s, p50,
 * p99 and CPU per transaction per workload and baseline, then the ratios the
 * project aims for. See HELP below for the flags.
 */
import type { Knex } from 'knex'
import { type Cluster, createCluster } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'
import { scriptFlags } from '../scripts/script-flags.js'
import {
  batchedForget,
  connectRaw,
  createHandWrittenLog,
  handWrittenTransfer,
  handWrittenTransferLogOutside,
  type RawConnection,
  rawOnePhaseTransfer,
} from './hand-written-2pc.js'
import { alternatingMedians, measure, type RunResult } from './measure.js'
import { measureHotSpots } from './hot-spot-bench.js'
import { measureHotSpotProcesses } from './hot-spot-processes.js'
import { measureMemory } from './memory.js'
import { measureRecovery } from './recovery-bench.js'
import { DEFAULT_BATCH_SIZE, DEFAULT_DUTY_CYCLE, measureReshard } from './reshard-bench.js'
import { measureTelemetry } from './telemetry-bench.js'
import { fenceBench } from './fence-bench.js'
import { serversCpuOf } from './server-cpu.js'
import { ACCOUNTS, createAccounts, randomAccount, shardtxTransfer } from './transfer.js'

const PARTS = ['tx', 'fence', 'recovery', 'memory', 'hotspot', 'reshard', 'telemetry'] as const
const HELP = `npm run bench -- [flags]

shardtx against what users would write instead, on throwaway servers it starts
(2 PostgreSQL + 2 MariaDB, fsync on). Several minutes in full.

  --quick        short windows, one repeat (proves it runs; figures mean little)
  --only PART    run one part only: ${PARTS.join(' | ')}
  --json         machine-readable output on stdout
  --check        exit 1 when a ratio misses its target, naming each one missed
  -h, --help     this text

Workloads: W1 cross-shard transfer (log shard inside, and outside), W2 one-shard
transfer, W3 2/4/8 shards. Baselines: B1 best effort (autocommit, both shards in
parallel) and B1 knex.transaction per shard, one after the other; B2 two-phase
commit by hand on the drivers; B3 knex.transaction; B4 one-phase by hand on the
driver. fence: W1 and W2 with the topology epoch fence on and off (a bench-only
switch), each line with the servers' CPU µs per transaction on and off (from /proc;
bench/fence-statements.ts breaks the fence's server cost down by statement form).
Workloads of a comparison run in rounds whose order alternates.
hotspot: N clients over H hot rows on 4 shards (bench/hot-spot-bench.ts); then
4 hot rows across 4 processes x 4 clients and 8 x 2: with the defaults, with
clusterLane: false, and with MariaDB's read windows for the lock views off (a
bench-only switch; bench/hot-spot-processes.ts).
reshard: 100,000 accounts (20,000 with --quick) on 4 servers (2 PostgreSQL + 2 MariaDB)
grown to 5 (a MariaDB server it starts): rows/s of the whole 4→5 job; W1 by key
with the mover (a process of its own) running / paused in alternating windows of one
run (batch size 500 at duty cycle 0.25 and 0.5, batch size 100 at 0.25), the mover
moving 4→5→4… job after job; p50 / p99 of how long a transfer the mover refused
waited (its first attempt's start to the start of the attempt that committed), and
the p99 to its commit (bench/reshard-bench.ts).
Part telemetry: W1 with the OpenTelemetry api and no SDK, then with an SDK registered.
`
const flags = scriptFlags(
  'bench',
  HELP,
  {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
  { only: PARTS },
)
const quick = flags.quick!
const settings = quick ? { warmupMs: 300, durationMs: 1_500, repeats: 1 } : { warmupMs: 1_000, durationMs: 4_000, repeats: 3 }
const log = (line: string): void => {
  if (!flags.json) console.log(line)
}

const local = await startLocalCluster({
  postgres: 2,
  mysql: 2,
  databasesPerServer: 2,
  durable: true,
  serverArgs: { postgres: ['-c', 'max_prepared_transactions=3000', '-c', 'max_connections=500'] },
})
const rows: { name: string; result: RunResult }[] = []
const ratios: { name: string; value: number; target: string; met: boolean }[] = []
const extra: Record<string, unknown> = {}

try {
  const shards = local.shards.map((s) => ({ ...s, pool: { max: 70 } }))
  const cluster = createCluster({ shards, log: 'pg-0', recovery: false })
  await cluster.migrate()
  await Promise.all(cluster.shardIds.map((id) => createAccounts(cluster.forShard(id))))
  log(`servers up; ${cluster.shardIds.length} shards (${cluster.shardIds.join(', ')}), ${ACCOUNTS} accounts each`)

  if (flags.only === undefined || flags.only === 'tx') await transactionBench(cluster, shards)
  if (flags.only === undefined || flags.only === 'fence') await fenceBench(cluster, local, settings, rows, ratios, log)
  if (flags.only === undefined || flags.only === 'memory') {
    extra.memory = await measureMemory(cluster, quick)
    const m = extra.memory as { rssAfterSmallMb: number; rssAfterLargeMb: number; small: number; large: number }
    ratios.push({
      name: `RSS after ${m.large} tx / after ${m.small} tx`,
      value: m.rssAfterLargeMb / m.rssAfterSmallMb,
      target: '≤ 1.10',
      met: m.rssAfterLargeMb / m.rssAfterSmallMb <= 1.1,
    })
  }
  if (flags.only === undefined || flags.only === 'recovery') {
    const recovery = await measureRecovery(local, shards, quick, settings, log)
    extra.recovery = recovery
    ratios.push({
      name: `seconds for recover() to settle ${recovery.branches} branches on ${recovery.shards} shards`,
      value: recovery.recoverSeconds,
      target: '≤ 10',
      met: recovery.settled === recovery.branches && recovery.recoverSeconds <= 10,
    })
    ratios.push({
      name: 'W1 during background recovery / beside the same in-doubt branches (alternating windows)',
      value: recovery.foregroundRatio,
      target: '≥ 0.90',
      met: recovery.foregroundRatio >= 0.9,
    })
  }
  if (flags.only === undefined || flags.only === 'hotspot') {
    const hotspot = await measureHotSpots(local.shards, { quick, log })
    extra.hotspot = hotspot
    for (const r of hotspot.ratios) {
      const name = `hot spot H=${r.hotRows}${r.retry ? ' with retry' : ''}: tx/s at 64 clients`
      ratios.push({ name: `${name} / at 16`, value: r.ratio64to16, target: '≥ 0.80', met: r.ratio64to16 >= 0.8 })
      ratios.push({ name: `${name} / at 4`, value: r.ratio64to4, target: 'reported', met: true })
    }
    const processes = await measureHotSpotProcesses(local.shards, { quick, log })
    extra.hotspotProcesses = processes
    for (const r of processes.ratios) {
      ratios.push({ name: `hot spot H=4 over ${r.processes} processes x ${r.clients}: commits/s, lane on / off`, value: r.laneOnToOff, target: 'reported', met: true })
      ratios.push({ name: `hot spot H=4 over ${r.processes} processes x ${r.clients}: commits/s, read windows on / off`, value: r.windowsOnToOff, target: 'reported', met: true })
    }
  }
  if (flags.only === undefined || flags.only === 'reshard') {
    const reshard = await measureReshard(local, { quick, log })
    extra.reshard = reshard
    ratios.push({ name: `reshard: rows/s of the whole 4→5 job, ${reshard.rows} rows, batch size ${DEFAULT_BATCH_SIZE}`, value: reshard.job.rowsPerSecond, target: 'reported', met: true })
    for (const c of reshard.configs) {
      const setting = `batch size ${c.batchSize}${c.batchSize === DEFAULT_BATCH_SIZE ? ' (default)' : ''}, duty cycle ${c.dutyCycle}${c.dutyCycle === DEFAULT_DUTY_CYCLE ? ' (default)' : ''}`
      ratios.push({
        name: `reshard: W1 tx/s mover running / paused, ${setting}, ${c.withMover.length} window pairs (sum; median of pairs ${c.medianRatio.toFixed(2)})`,
        value: c.ratio,
        // The goal is for the defaults; a higher duty cycle trades the application's throughput for the mover's.
        target: c.dutyCycle === DEFAULT_DUTY_CYCLE ? '≥ 0.80' : 'reported',
        met: c.dutyCycle !== DEFAULT_DUTY_CYCLE || c.ratio >= 0.8,
      })
      const waited = `a transfer refused by the mover waited (first attempt to the one that committed), ${setting} (${c.waits.transfers} transfers)`
      ratios.push({ name: `reshard: p50 ms ${waited}`, value: c.waits.p50Ms, target: 'reported', met: true })
      const goal = c.batchSize === DEFAULT_BATCH_SIZE
      ratios.push({ name: `reshard: p99 ms ${waited}`, value: c.waits.p99Ms, target: goal ? '≤ 100' : 'reported', met: !goal || c.waits.p99Ms <= 100 })
      ratios.push({ name: `reshard: p99 ms the same transfers, first attempt to commit, ${setting}`, value: c.waits.toCommitP99Ms, target: 'reported', met: true })
      ratios.push({ name: `reshard: p99 ms a batch worked (freeze + move), ${setting} (${c.batchHoldMs.batches} batches)`, value: c.batchHoldMs.p99, target: 'reported', met: true })
    }
  }
  // Last: an SDK once registered stays behind the tracers handed out while it was.
  if (flags.only === undefined || flags.only === 'telemetry') {
    const telemetry = await measureTelemetry(shards, settings, 16)
    rows.push({ name: 'W1 PG↔MariaDB @16, OpenTelemetry api, no SDK', result: telemetry.withoutSdk })
    rows.push({ name: `W1 PG↔MariaDB @16, OpenTelemetry SDK registered (${telemetry.spans} spans)`, result: telemetry.withSdk })
    const value = telemetry.withSdk.txPerSec / telemetry.withoutSdk.txPerSec
    ratios.push({ name: 'W1 tx/s with an OpenTelemetry SDK / without @16', value, target: '≥ 0.85', met: value >= 0.85 })
  }
  await cluster.close()
} finally {
  await local.destroy()
}

if (flags.json) {
  console.log(JSON.stringify({ settings, rows, ratios, ...extra }, null, 2))
} else {
  // CPU ms/tx is this process's; servers' is that of the servers holding the workload's shards (Linux: /proc).
  console.log('\n| workload | tx/s | p50 ms | p99 ms | CPU ms/tx | servers\' CPU ms/tx | errors |\n|---|---:|---:|---:|---:|---:|---:|')
  for (const { name, result: r } of rows) {
    const servers = r.serverCpuMsPerTx === undefined ? '' : r.serverCpuMsPerTx.toFixed(3)
    console.log(`| ${name} | ${r.txPerSec.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.cpuMsPerTx.toFixed(3)} | ${servers} | ${r.errors} |`)
  }
  console.log('\n| ratio | value | target | met |\n|---|---:|---|---|')
  for (const r of ratios) console.log(`| ${r.name} | ${r.value.toFixed(2)} | ${r.target} | ${r.met ? 'yes' : 'NO'} |`)
  if (extra.recovery !== undefined) console.log('\nrecovery:', extra.recovery)
  if (extra.memory !== undefined) console.log('memory:', extra.memory)
  if (extra.reshard !== undefined) console.log('reshard:', JSON.stringify(extra.reshard, null, 2))
  if (extra.hotspot !== undefined) console.table((extra.hotspot as Awaited<ReturnType<typeof measureHotSpots>>).results)
  if (extra.hotspotProcesses !== undefined) console.table((extra.hotspotProcesses as Awaited<ReturnType<typeof measureHotSpotProcesses>>).results)
}

const missed = ratios.filter((r) => !r.met)
if (flags.check) {
  // stderr, so that --json output stays parseable.
  for (const r of missed) process.stderr.write(`bench: target missed: ${r.name} = ${r.value.toFixed(2)}, target ${r.target}\n`)
  if (missed.length > 0) process.exitCode = 1
  else process.stderr.write(`bench: all ${ratios.length} targets met\n`)
}

async function transactionBench(cluster: Cluster, shards: typeof local.shards): Promise<void> {
  /**
   * Measures workloads side by side at one concurrency, in alternating rounds, with
   * the CPU of the servers that hold `shardIds` (the workloads' shards) per transaction.
   */
  const compare = async (
    concurrency: number,
    shardIds: readonly string[],
    workloads: ReadonlyArray<readonly [string, (client: number) => Promise<void>]>,
  ): Promise<RunResult[]> => {
    process.stderr.write(`running ${workloads.map(([name]) => name).join(', ')} @${concurrency}…\n`)
    const serverCpuMs = serversCpuOf(local, shardIds)
    const results = await alternatingMedians(
      settings.repeats,
      workloads.map(([, once]) => () => measure({ ...settings, concurrency, serverCpuMs }, once)),
    )
    results.forEach((result, i) => {
      const name = workloads[i]![0]
      rows.push({ name: `${name} @${concurrency}`, result })
      const servers = result.serverCpuMsPerTx === undefined ? '' : `, servers' CPU ${result.serverCpuMsPerTx.toFixed(3)} ms/tx`
      log(`${name} @${concurrency}: ${result.txPerSec.toFixed(0)} tx/s, p50 ${result.p50Ms.toFixed(2)} ms, CPU ${result.cpuMsPerTx.toFixed(3)} ms/tx${servers}`)
      if (result.firstError !== undefined) process.stderr.write(`  ${result.errors} errors, first: ${result.firstError}\n`)
    })
    return results
  }
  const ratio = (name: string, value: number, target: string, met: boolean): void => void ratios.push({ name, value, target, met })
  const informational = (name: string, value: number): void => ratio(name, value, '(no target)', true)
  const knexOf = (id: string): Knex => cluster.forShard(id)

  // W1 cross-shard transfer with the log shard (pg-0) as a participant, against
  // B1 in both forms users write and B2 (hand-written 2PC).
  for (const [label, from, to] of [
    ['PG↔MariaDB', 'pg-0', 'my-0'],
    ['PG↔PG', 'pg-0', 'pg-2'],
  ] as const) {
    process.stderr.write(`connecting B2's raw connections for ${label}…\n`)
    const raw = await rawClients(shards, [from, to], 16)
    for (const concurrency of [1, 16]) {
      const [w1, b1, b1tx, b2] = await compare(concurrency, [from, to], [
        [`W1 shardtx ${label}`, () => shardtxTransfer(cluster, from, to)],
        [`B1 best effort, autocommit in parallel ${label}`, () => bestEffortTransfer(knexOf(from), knexOf(to))],
        [`B1 best effort, knex.transaction per shard ${label}`, () => knexTransactionPerShard(knexOf(from), knexOf(to))],
        [`B2 hand-written 2PC ${label}`, (c) => handWrittenTransfer(raw.of(c)[0]!, raw.of(c)[1]!, randomAccount(), randomAccount(), raw.forget)],
      ])
      if (concurrency === 1) {
        ratio(`W1 ${label} p50 / B1 (knex.transaction) p50 @1`, w1!.p50Ms / b1tx!.p50Ms, '≤ 1.50', w1!.p50Ms / b1tx!.p50Ms <= 1.5)
        informational(`W1 ${label} p50 / B1 (autocommit, parallel) p50 @1`, w1!.p50Ms / b1!.p50Ms)
      } else {
        ratio(`W1 ${label} tx/s / B1 (knex.transaction) tx/s @16`, w1!.txPerSec / b1tx!.txPerSec, '≥ 0.70', w1!.txPerSec / b1tx!.txPerSec >= 0.7)
        informational(`W1 ${label} tx/s / B1 (autocommit, parallel) tx/s @16`, w1!.txPerSec / b1!.txPerSec)
      }
      ratio(`W1 ${label} tx/s / B2 tx/s @${concurrency}`, w1!.txPerSec / b2!.txPerSec, '≥ 0.95', w1!.txPerSec / b2!.txPerSec >= 0.95)
    }
    await raw.close()
  }

  // W1 with the log shard outside the transfer: the decision is a write of its own.
  {
    const [from, to] = ['pg-1', 'my-0']
    const raw = await rawClients(shards, [from, to, 'pg-0'], 16)
    for (const concurrency of [1, 16]) {
      const [w1, b2] = await compare(concurrency, [from, to, 'pg-0'], [
        ['W1 shardtx PG↔MariaDB, log shard outside', () => shardtxTransfer(cluster, from, to)],
        ['B2 hand-written 2PC PG↔MariaDB, log shard outside', (c) => {
          const [a, b, logConn] = raw.of(c)
          return handWrittenTransferLogOutside(a!, b!, logConn!, randomAccount(), randomAccount(), raw.forget)
        }],
      ])
      ratio(`W1 log outside tx/s / B2 log outside tx/s @${concurrency}`, w1!.txPerSec / b2!.txPerSec, '≥ 0.95', w1!.txPerSec / b2!.txPerSec >= 0.95)
    }
    await raw.close()
  }

  // W2 single-shard transfer, against B3 (a plain knex transaction) and B4 (one-phase by hand).
  for (const shardId of ['pg-0', 'my-0']) {
    const raw = await rawClients(shards, [shardId], 16)
    for (const concurrency of [1, 16]) {
      const [w2, b3, b4] = await compare(concurrency, [shardId], [
        [`W2 shardtx one shard ${shardId}`, () => shardtxTransfer(cluster, shardId, shardId)],
        [`B3 knex.transaction ${shardId}`, () => plainTransfer(knexOf(shardId))],
        [`B4 hand-written one-phase ${shardId}`, (c) => rawOnePhaseTransfer(raw.of(c)[0]!, randomAccount(), randomAccount())],
      ])
      ratio(`W2 ${shardId} tx/s / B3 tx/s @${concurrency}`, w2!.txPerSec / b3!.txPerSec, '≥ 0.95', w2!.txPerSec / b3!.txPerSec >= 0.95)
      informational(`W2 ${shardId} tx/s / B4 (one-phase by hand) tx/s @${concurrency}`, w2!.txPerSec / b4!.txPerSec)
    }
    await raw.close()
  }

  // W3 growth: transactions writing 2, 4 and 8 shards, PostgreSQL and MariaDB mixed.
  const widths: Record<number, string[]> = {
    2: ['pg-0', 'my-0'],
    4: ['pg-0', 'my-0', 'pg-2', 'my-2'],
    8: ['pg-0', 'my-0', 'pg-2', 'my-2', 'pg-1', 'my-1', 'pg-3', 'my-3'],
  }
  for (const width of [2, 4, 8]) {
    for (const concurrency of quick ? [1, 16] : [1, 4, 16, 64]) {
      await compare(concurrency, widths[width]!, [[`W3 shardtx ${width} shards`, () => shardtxWide(cluster, widths[width]!)]])
    }
  }
}

function shardtxWide(cluster: Cluster, shardIds: string[]): Promise<void> {
  return cluster.transaction(async (tx) => {
    for (const shardId of shardIds) await tx.forShard(shardId)('accounts').where({ id: randomAccount() }).increment('balance', 1)
  })
}

/** B1 as a user would write it best without atomicity: two autocommit updates, sent at once. */
async function bestEffortTransfer(from: Knex, to: Knex): Promise<void> {
  const a = randomAccount()
  const b = randomAccount()
  await Promise.all([from('accounts').where({ id: a }).decrement('balance', 1), to('accounts').where({ id: b }).increment('balance', 1)])
}

/** B1 as many users write it today: a knex.transaction on each shard, one after the other. */
async function knexTransactionPerShard(from: Knex, to: Knex): Promise<void> {
  const a = randomAccount()
  const b = randomAccount()
  await from.transaction((trx) => trx('accounts').where({ id: a }).decrement('balance', 1))
  await to.transaction((trx) => trx('accounts').where({ id: b }).increment('balance', 1))
}

async function plainTransfer(knex: Knex): Promise<void> {
  const a = randomAccount()
  const b = randomAccount()
  await knex.transaction(async (trx) => {
    await trx('accounts').where({ id: a }).decrement('balance', 1)
    await trx('accounts').where({ id: b }).increment('balance', 1)
  })
}

/**
 * One dedicated raw connection per client and shard for B2 and B4, and the
 * decision log with shardtx's own forget batching, on the first shard.
 */
async function rawClients(shards: typeof local.shards, shardIds: string[], clients: number) {
  const shard = (id: string) => shards.find((s) => s.id === id)!
  const connections: RawConnection[][] = []
  for (let i = 0; i < clients; i++) connections.push(await Promise.all(shardIds.map((id) => connectRaw(shard(id)))))
  // The hand-written log lives where shardtx's does (pg-0); one-shard baselines need none.
  const forgetter = shardIds.includes('pg-0') ? await connectRaw(shard('pg-0')) : undefined
  if (forgetter !== undefined) await createHandWrittenLog(forgetter)
  const forget = forgetter === undefined ? undefined : batchedForget(forgetter)
  return {
    of: (client: number): RawConnection[] => connections[client]!,
    forget: (id: string): void => forget!.add(id),
    async close(): Promise<void> {
      await forget?.close()
      await Promise.all([...connections.flat(), ...(forgetter === undefined ? [] : [forgetter])].map((c) => c.close()))
    },
  }
}
