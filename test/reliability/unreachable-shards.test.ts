import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, type Dialect, ShardUnavailableError } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { runningStatementsOn, untilServer } from '../support/server-activity.js'
import { sharedShards } from '../support/shared-cluster.js'
import { closedPort, expectNothingLeaked, failureOf, poolUsage } from './leak-checks.js'


describe.each<Dialect>(['postgres', 'mysql'])('a %s shard that refuses connections', (dialect) => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    const port = await closedPort()
    const dead = {
      id: 'dead',
      dialect,
      connection: { host: '127.0.0.1', port, user: dialect === 'postgres' ? 'postgres' : 'root', database: 'shardtx' },
    }
    // The default maxWait is 10 s: a refused connection must not wait for it.
    t = await startTestCluster([...sharedShards(), dead], { log: 'pg-0' })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['pg-0', 'my-0'], [{ id: 1, balance: 100 }])
  })
  afterAll(() => t.close())

  it('fails the transaction with ShardUnavailableError naming the shard, and rolls back the others', async () => {
    const { error } = await failureOf(() =>
      t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
        await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
        await tx.forShard('dead')('anything').select()
      }),
    )
    expect(error).toBeInstanceOf(ShardUnavailableError)
    expect((error as ShardUnavailableError).shardId).toBe('dead')
    expect((error as ShardUnavailableError).retryable).toBe(true)
    expect(error.message).toMatch(/^shard dead: could not get a connection: .*ECONNREFUSED/)
    expect((await t.balances(accounts, 'pg-0')).get(1)).toBe(100)
    expect((await t.balances(accounts, 'my-0')).get(1)).toBe(100)
    expect(poolUsage(t.cluster, 'dead')).toEqual({ used: 0, pending: 0 })
    // Polled: work off the caller's path may hold a connection for a moment (the deadlock
    // detector reads lock waits once a statement ran past deadlockTimeout, as on a loaded
    // machine); a leaked one would stay.
    for (const shardId of ['pg-0', 'my-0']) {
      await expect.poll(() => poolUsage(t.cluster, shardId), { message: `pool of ${shardId}`, timeout: 5_000 }).toEqual({ used: 0, pending: 0 })
    }
    // inDoubt() refuses to answer with a shard unreachable; ask over the reachable ones.
    const reachable = createCluster({ shards: sharedShards(), prefix: t.prefix, logTable: t.logTable, recovery: false })
    try {
      await expectNothingLeaked(reachable)
    } finally {
      await reachable.close()
    }
  })

  it('keeps failing the same way, without piling up waiters, while the shard stays down', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => t.cluster.transaction((tx) => tx.forShard('dead')('anything').select())),
    )
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ShardUnavailableError)
    }
    expect(poolUsage(t.cluster, 'dead')).toEqual({ used: 0, pending: 0 })
  })

  it('reports the shard in a recovery round instead of throwing, and in status()', async () => {
    const report = await t.cluster.recover()
    expect(report.failed.map((f) => f.shardId)).toEqual(['dead'])
    const status = await t.cluster.status()
    expect(status.find((s) => s.shardId === 'dead')?.problems.length).toBeGreaterThan(0)
  })
})

describe('a shard server that disappears mid-query', () => {
  let local: LocalCluster
  let cluster: Cluster

  beforeAll(async () => {
    local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
    cluster = createCluster({ shards: local.shards, log: 'pg-0', recovery: { enabled: false, graceMs: 0 }, timeout: 20_000 })
    await cluster.migrate()
    for (const s of local.shards) {
      await cluster.forShard(s.id).schema.createTable('accounts', (t) => {
        t.integer('id').primary()
        t.integer('balance').notNullable()
      })
      await cluster.forShard(s.id)('accounts').insert({ id: 1, balance: 100 })
    }
  }, 60_000)
  afterAll(async () => {
    await cluster?.close()
    await local?.destroy()
  })

  it.each([
    ['pg-0', 'select pg_sleep(30)'],
    ['my-0', 'select sleep(30)'],
  ])('%s killed during "%s": a typed error soon after, nothing committed, nothing leaked', async (victim, sleepSql) => {
    const other = victim === 'pg-0' ? 'my-0' : 'pg-0'
    let sleeping!: () => void
    const isSleeping = new Promise<void>((resolve) => (sleeping = resolve))
    const running = failureOf(() =>
      cluster.transaction(async (tx) => {
        await tx.forShard(other)('accounts').where({ id: 1 }).increment('balance', 1)
        await tx.forShard(victim)('accounts').where({ id: 1 }).increment('balance', 1)
        const slow = tx.forShard(victim).raw(sleepSql)
        sleeping()
        await slow
      }),
    )
    await isSleeping
    // Killed while the server runs the statement, not before it arrives.
    const shard = local.shards.find((s) => s.id === victim)!
    await untilServer(`${victim} runs the sleep`, async () => (await runningStatementsOn(shard, sleepSql)) > 0)
    await local.kill(victim)
    const { error } = await running
    try {
      expect(error).toBeInstanceOf(ShardUnavailableError)
      expect((error as ShardUnavailableError).shardId).toBe(victim)
      expect(error.message).toMatch(new RegExp(`^shard ${victim}: `))
      // Polled: the deadlock detector may be reading a shard's lock waits (the sleep ran past
      // deadlockTimeout) on a pooled connection, for at most its bound.
      await expect.poll(() => poolUsage(cluster, other), { timeout: 5_000 }).toEqual({ used: 0, pending: 0 })
      await expect.poll(() => poolUsage(cluster, victim), { timeout: 5_000 }).toEqual({ used: 0, pending: 0 })
    } finally {
      await local.restart(victim)
    }
    expect((await cluster.forShard(other)('accounts').where({ id: 1 }))[0].balance).toBe(100)
    expect((await cluster.forShard(victim)('accounts').where({ id: 1 }))[0].balance).toBe(100)
    await expectNothingLeaked(cluster)
    // The shard serves again once it is back.
    await cluster.transaction(async (tx) => {
      await tx.forShard(other)('accounts').where({ id: 1 }).increment('balance', 1)
      await tx.forShard(victim)('accounts').where({ id: 1 }).decrement('balance', 1)
    })
    await cluster.transaction(async (tx) => {
      await tx.forShard(other)('accounts').where({ id: 1 }).decrement('balance', 1)
      await tx.forShard(victim)('accounts').where({ id: 1 }).increment('balance', 1)
    })
    await expectNothingLeaked(cluster)
  })
})
