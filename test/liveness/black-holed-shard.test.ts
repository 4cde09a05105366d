import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/run-cli.js'
import { ExitCode } from '../../src/cli/exit-codes.js'
import {
  type Cluster,
  type ClusterOptions,
  createCluster,
  ShardMigrationError,
  ShardUnavailableError,
  TransactionAbortedError,
} from '../../src/index.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { SMALL_BOUNDS } from './fault-matrix.js'
import { rejectionOf } from '../support/server-errors.js'

// Every promise shardtx returns settles while one shard's path drops every byte:
// its pooled connections go silent and new ones are accepted but never answered.
// The test's own timeout is what would catch a hang; each call's typed outcome is
// what is asserted.

let local: LocalCluster
const dir = mkdtempSync(join(tmpdir(), 'shardtx-black-holed-'))
const migrations = join(dir, 'migrations')

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
  mkdirSync(migrations)
  writeFileSync(
    join(migrations, '001_items.cjs'),
    "exports.up = (knex) => knex.schema.createTable('bh_items', (t) => { t.integer('id').primary() })\n" +
      "exports.down = (knex) => knex.schema.dropTable('bh_items')\n",
  )
}, 120_000)
afterAll(async () => {
  await local?.destroy()
  rmSync(dir, { recursive: true, force: true })
})

function options(): ClusterOptions {
  return { shards: local.shards, log: 'pg-0', ...SMALL_BOUNDS, tables: { bh_items: { shardKey: 'id' } } }
}

/** Asserts `error` is a ShardUnavailableError (or ShardUnresponsiveError) of `shardId`, possibly as a cause. */
function expectUnavailable(error: unknown, shardId: string): void {
  let current = error
  while (current instanceof Error && !(current instanceof ShardUnavailableError)) current = current.cause
  expect(current, String(error)).toBeInstanceOf(ShardUnavailableError)
  expect((current as ShardUnavailableError).shardId).toBe(shardId)
}


describe.each(['pg-0', 'my-0'])('with %s black-holed', (victim) => {
  const isLog = victim === 'pg-0'
  const healthy = isLog ? 'my-0' : 'pg-0'
  let cluster: Cluster

  beforeAll(async () => {
    cluster = createCluster(options())
    await cluster.migrate()
    await cluster.migrateShards({ directory: migrations })
    // Pooled connections on every shard, so the black hole silences live ones too.
    await Promise.all(cluster.shardIds.map((id) => cluster.forShard(id).raw('select 1')))
    await local.partition(victim, { mode: 'blackhole' })
  }, 60_000)
  afterAll(async () => {
    await local.heal(victim)
    await cluster?.close()
  })

  it('a recovery round reports the shard in failed and finishes', async () => {
    const report = await cluster.recover()
    expect(report.failed.map((f) => f.shardId)).toContain(victim)
    expect(report.failed.map((f) => f.shardId)).not.toContain(healthy)
  })

  it('status() reports the shard unreachable and the other one healthy', async () => {
    const statuses = await cluster.status()
    const bad = statuses.find((s) => s.shardId === victim)!
    expect(bad.reachable).toBe(false)
    expect(bad.problems.join(' ')).toMatch(/unreachable/)
    expect(statuses.find((s) => s.shardId === healthy)!.reachable).toBe(true)
  })

  it('inDoubt() rejects with ShardUnavailableError naming the shard', async () => {
    expectUnavailable(await rejectionOf(cluster.inDoubt()), victim)
  })

  it('resolve() settles: the log shard unreachable rejects, a participant unreachable is reported in failed', async () => {
    const id = newTransactionId(Date.now() - 60_000, 1_000)
    if (isLog) {
      expectUnavailable(await rejectionOf(cluster.resolve(id, 'abort')), victim)
    } else {
      const report = await cluster.resolve(id, 'abort')
      expect(report.failed.map((f) => f.shardId)).toEqual([victim])
    }
  })

  it('migrate() of the log table settles', async () => {
    if (isLog) expectUnavailable(await rejectionOf(cluster.migrate()), victim)
    else await expect(cluster.migrate()).resolves.toBeUndefined()
  })

  it('migrateShards() fails the shard with ShardMigrationError', async () => {
    const error = await rejectionOf(cluster.migrateShards({ directory: migrations, statementTimeout: 800 }))
    expect(error).toBeInstanceOf(ShardMigrationError)
    const shards = (error as ShardMigrationError).shards
    expect(shards.find((s) => s.shardId === victim)!.state).toBe('failed')
    expect(shards.find((s) => s.shardId === healthy)!.state).not.toBe('failed')
  })

  it('a cluster.table() read across the shards rejects with ShardUnavailableError', async () => {
    expectUnavailable(await rejectionOf(Promise.resolve(cluster.table('bh_items').select())), victim)
  })

  it('a transaction touching the shard aborts or fails with a typed error, and one that does not commits', async () => {
    const error = await rejectionOf(cluster.transaction((tx) => tx.forShard(victim)('bh_items').insert({ id: 1 })))
    if (error instanceof TransactionAbortedError) expect(error.retryable).toBe(false)
    else expectUnavailable(error, victim)
    if (!isLog) {
      await cluster.transaction(async (tx) => {
        await tx.forShard(healthy)('bh_items').insert({ id: 2 })
      })
    }
  })

  it('every CLI command exits with a code', async () => {
    const config = join(dir, `config-${victim}.json`)
    writeFileSync(config, JSON.stringify({ ...options(), tables: undefined }))
    const commands = [
      ['status'],
      ['in-doubt'],
      ['recover'],
      ['resolve', newTransactionId(Date.now() - 60_000, 1_000), 'abort'],
      ['migrate'],
      ['migrate', '--shards', '--directory', migrations],
      ['route', 'user:1'],
      ['topology', 'show'],
    ]
    for (const command of commands) {
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      const code = await runCli([...command, '--config', config, '--json'], { stdout, stderr, cwd: dir })
      expect(Object.values(ExitCode), command.join(' ')).toContain(code)
    }
  })

  it('close() settles, and a cluster over the healed path works again', async () => {
    await cluster.close()
    await local.heal(victim)
    const again = createCluster(options())
    try {
      await again.transaction(async (tx) => {
        await tx.forShard('pg-0')('bh_items').insert({ id: 100 })
        await tx.forShard('my-0')('bh_items').insert({ id: 100 })
      })
      await again.transaction(async (tx) => {
        await tx.forShard('pg-0')('bh_items').where({ id: 100 }).del()
        await tx.forShard('my-0')('bh_items').where({ id: 100 }).del()
      })
    } finally {
      await again.close()
    }
  })
})
