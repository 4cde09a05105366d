/**
 * `npm run bench`: shardtx against what users would do instead, in one run on
 * the same throwaway servers (durable: fsync on). Prints a table of tx/s, p50
 * and p99 per workload and baseline, then the ratios the project aims for.
 *
 *   npm run bench                  full run (several minutes)
 *   npm run bench -- --quick       short windows, one repeat
 *   npm run bench -- --json        machine-readable output
 *   npm run bench -- --only tx|fence|recovery|memory
 */
import { parseArgs } from 'node:util'
import type { Knex } from 'knex'
import { type Cluster, createCluster } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'
import { connectRaw, createHandWrittenLog, forgetBatch, handWrittenTransfer, type RawConnection } from './hand-written-2pc.js'
import { measure, medianOf, type RunResult } from './measure.js'
import { measureMemory } from './memory.js'
import { measureRecovery } from './recovery-bench.js'
import { fenceBench } from './fence-bench.js'
import { ACCOUNTS, randomAccount, shardtxTransfer } from './transfer.js'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
})
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
  if (flags.only === undefined || flags.only === 'fence') await fenceBench(cluster, settings, rows, ratios, log)
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
  await cluster.close()
} finally {
  await local.destroy()
}

if (flags.json) {
  console.log(JSON.stringify({ settings, rows, ratios, ...extra }, null, 2))
} else {
  console.log('\n| workload | tx/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|')
  for (const { name, result: r } of rows) {
    console.log(`| ${name} | ${r.txPerSec.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.errors} |`)
  }
  console.log('\n| ratio | value | target | met |\n|---|---:|---|---|')
  for (const r of ratios) console.log(`| ${r.name} | ${r.value.toFixed(2)} | ${r.target} | ${r.met ? 'yes' : 'NO'} |`)
  if (extra.recovery !== undefined) console.log('\nrecovery:', extra.recovery)
  if (extra.memory !== undefined) console.log('memory:', extra.memory)
}

async function transactionBench(cluster: Cluster, shards: typeof local.shards): Promise<void> {
  const run = async (name: string, concurrency: number, once: (client: number) => Promise<void>): Promise<RunResult> => {
    process.stderr.write(`running ${name} @${concurrency}…\n`)
    const result = await medianOf(settings.repeats, () => measure({ ...settings, concurrency }, once))
    rows.push({ name: `${name} @${concurrency}`, result })
    log(`${name} @${concurrency}: ${result.txPerSec.toFixed(0)} tx/s, p50 ${result.p50Ms.toFixed(2)} ms`)
    if (result.firstError !== undefined) process.stderr.write(`  ${result.errors} errors, first: ${result.firstError}\n`)
    return result
  }
  const knexOf = (id: string): Knex => cluster.forShard(id)

  // W1 cross-shard transfer, against B1 (best effort) and B2 (hand-written 2PC).
  for (const [label, from, to] of [
    ['PG↔MariaDB', 'pg-0', 'my-0'],
    ['PG↔PG', 'pg-0', 'pg-2'],
  ] as const) {
    process.stderr.write(`connecting B2's raw connections for ${label}…\n`)
    const raw = await rawPairs(shards, from, to, 16)
    for (const concurrency of [1, 16]) {
      const w1 = await run(`W1 shardtx ${label}`, concurrency, () => shardtxTransfer(cluster, from, to))
      const b1 = await run(`B1 best-effort ${label}`, concurrency, () => bestEffortTransfer(knexOf(from), knexOf(to)))
      const b2 = await run(`B2 hand-written 2PC ${label}`, concurrency, (c) => raw.transfer(c))
      if (concurrency === 1) {
        ratios.push({ name: `W1 ${label} p50 / B1 p50 @1`, value: w1.p50Ms / b1.p50Ms, target: '≤ 1.50', met: w1.p50Ms / b1.p50Ms <= 1.5 })
      } else {
        ratios.push({ name: `W1 ${label} tx/s / B1 tx/s @16`, value: w1.txPerSec / b1.txPerSec, target: '≥ 0.70', met: w1.txPerSec / b1.txPerSec >= 0.7 })
      }
      ratios.push({ name: `W1 ${label} tx/s / B2 tx/s @${concurrency}`, value: w1.txPerSec / b2.txPerSec, target: '≥ 0.95', met: w1.txPerSec / b2.txPerSec >= 0.95 })
    }
    await raw.close()
  }

  // W2 single-shard transfer, against B3 (a plain knex transaction).
  for (const shardId of ['pg-0', 'my-0']) {
    for (const concurrency of [1, 16]) {
      const w2 = await run(`W2 shardtx one shard ${shardId}`, concurrency, () => shardtxTransfer(cluster, shardId, shardId))
      const b3 = await run(`B3 knex.transaction ${shardId}`, concurrency, () => plainTransfer(knexOf(shardId)))
      ratios.push({ name: `W2 ${shardId} tx/s / B3 tx/s @${concurrency}`, value: w2.txPerSec / b3.txPerSec, target: '≥ 0.95', met: w2.txPerSec / b3.txPerSec >= 0.95 })
    }
  }

  // W3 growth: transactions writing 2, 4 and 8 shards, PostgreSQL and MariaDB mixed.
  const widths: Record<number, string[]> = {
    2: ['pg-0', 'my-0'],
    4: ['pg-0', 'my-0', 'pg-2', 'my-2'],
    8: ['pg-0', 'my-0', 'pg-2', 'my-2', 'pg-1', 'my-1', 'pg-3', 'my-3'],
  }
  for (const width of [2, 4, 8]) {
    for (const concurrency of quick ? [1, 16] : [1, 4, 16, 64]) {
      await run(`W3 shardtx ${width} shards`, concurrency, () => shardtxWide(cluster, widths[width]!))
    }
  }
}


async function createAccounts(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('accounts')
  await knex.schema.createTable('accounts', (t) => {
    t.integer('id').primary()
    t.bigInteger('balance').notNullable()
  })
  for (let start = 1; start <= ACCOUNTS; start += 1_000) {
    await knex('accounts').insert(Array.from({ length: 1_000 }, (_, i) => ({ id: start + i, balance: 1_000_000 })))
  }
}

function shardtxWide(cluster: Cluster, shardIds: string[]): Promise<void> {
  return cluster.transaction(async (tx) => {
    for (const shardId of shardIds) await tx.forShard(shardId)('accounts').where({ id: randomAccount() }).increment('balance', 1)
  })
}

async function bestEffortTransfer(from: Knex, to: Knex): Promise<void> {
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

/** One dedicated raw connection per client and shard for B2, and the batched forget. */
async function rawPairs(shards: typeof local.shards, from: string, to: string, clients: number) {
  const shard = (id: string) => shards.find((s) => s.id === id)!
  const pairs: [RawConnection, RawConnection][] = []
  for (let i = 0; i < clients; i++) pairs.push([await connectRaw(shard(from)), await connectRaw(shard(to))])
  await createHandWrittenLog(pairs[0]![0])
  const forgetter = await connectRaw(shard(from))
  let pending: string[] = []
  let forgetting = Promise.resolve()
  return {
    async transfer(client: number): Promise<void> {
      const [a, b] = pairs[client]!
      await handWrittenTransfer(a, b, randomAccount(), randomAccount(), pending)
      if (pending.length >= 200) {
        const batch = pending
        pending = []
        forgetting = forgetting.then(() => forgetBatch(forgetter, batch))
      }
    },
    async close(): Promise<void> {
      await forgetting
      await forgetBatch(forgetter, pending)
      await Promise.all([...pairs.flat(), forgetter].map((c) => c.close()))
    },
  }
}
