import { afterEach, describe, expect, test } from 'vitest'
import {
  type Cluster,
  ConfigError,
  createCluster,
  type Dialect,
  type IsolationLevel,
  type ShardConfig,
  StaleTopologyError,
  TopologyChangeBlockedError,
} from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const opened: (TestCluster | Cluster)[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

/** An administrator's process over the same log: connections for every shard, routing by the stored set. */
async function admin(of: TestCluster, shards: ShardConfig[]): Promise<Cluster> {
  const cluster = createCluster({ shards, prefix: of.prefix, logTable: of.logTable, recovery: false, topology: 'follow' })
  opened.push(cluster)
  await cluster.migrate()
  return cluster
}

/** A key the ring of `cluster` routes to `shardId`. */
function keyOn(cluster: Cluster, shardId: string): string {
  for (let i = 0; ; i++) if (cluster.shardFor(`key:${i}`) === shardId) return `key:${i}`
}

const ISOLATION_LEVELS: IsolationLevel[] = ['read uncommitted', 'read committed', 'repeatable read', 'serializable']

describe.each(['postgres', 'mysql'] as Dialect[])('the epoch fence on %s', (dialect) => {
  const [s0, s1] = sharedShards(dialect) as [ShardConfig, ShardConfig]

  async function oneShardCluster(): Promise<{ test: TestCluster; table: string }> {
    const test = await startTestCluster([s0])
    opened.push(test)
    const table = test.table('fenced')
    await test.createAccounts(table, [s0.id], [])
    await test.cluster.transaction(async () => {}) // first use: epoch 1, routing [s0]
    return { test, table }
  }

  test('a process that missed a change is refused with StaleTopologyError, and with retry commits under the new routing', async () => {
    const { test, table } = await oneShardCluster()
    const ops = await admin(test, [s0, s1])
    // Connections for both shards, routing by the stored set: [s0] at epoch 1 for now.
    const stale = createCluster({ shards: [s0, s1], prefix: test.prefix, logTable: test.logTable, recovery: false, topology: 'follow' })
    opened.push(stale)
    await stale.transaction(async () => {})
    await ops.forShard(s1.id).schema.createTable(table, (t) => {
      t.integer('id').primary()
      t.integer('balance').notNullable()
    })
    try {
      const change = await ops.setTopology([{ id: s0.id }, { id: s1.id }])
      expect(change.to.epoch).toBe(2)
      const key = keyOn(ops, s1.id)
      expect(stale.shardFor(key)).toBe(s0.id) // still the old ring until a shard refuses it

      const refused = stale.transaction((tx) => tx.forKey(key)(table).insert({ id: 1, balance: 1 }))
      await expect(refused).rejects.toBeInstanceOf(StaleTopologyError)
      await expect(refused).rejects.toMatchObject({ shardId: s0.id, routedEpoch: 1, shardEpoch: 2, retryable: true })
      expect(await test.balances(table, s0.id)).toEqual(new Map())

      await stale.transaction((tx) => tx.forKey(key)(table).insert({ id: 2, balance: 2 }), { retry: { attempts: 3, backoff: 0 } })
      expect(stale.shardFor(key)).toBe(s1.id)
      expect(await test.balances(table, s0.id)).toEqual(new Map())
      expect((await ops.forShard(s1.id)(table).select('id')).map((r) => Number(r.id))).toEqual([2])
    } finally {
      await ops.forShard(s1.id).schema.dropTableIfExists(table)
    }
  })

  test('two processes with different shard lists never both commit: one is refused at first use, the other once the list changes', async () => {
    const { test, table } = await oneShardCluster()
    const wider = createCluster({ shards: [s0, s1], prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(wider)
    await wider.migrate()
    await expect(wider.transaction((tx) => tx.forShard(s0.id)(table).insert({ id: 1, balance: 1 }))).rejects.toBeInstanceOf(ConfigError)
    await test.cluster.transaction((tx) => tx.forShard(s0.id)(table).insert({ id: 2, balance: 2 }))

    await (await admin(test, [s0, s1])).setTopology([{ id: s0.id }, { id: s1.id }])
    const fresh = createCluster({ shards: [s0, s1], prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(fresh)
    await fresh.transaction((tx) => tx.forShard(s0.id)(table).insert({ id: 3, balance: 3 }))
    await expect(test.cluster.transaction((tx) => tx.forShard(s0.id)(table).insert({ id: 4, balance: 4 }))).rejects.toBeInstanceOf(
      StaleTopologyError,
    )
    expect([...(await test.balances(table, s0.id)).keys()].sort()).toEqual([2, 3])
  })

  test.each(ISOLATION_LEVELS)('under %s a stale branch is refused, and swallowing the error does not let its write commit', async (isolationLevel) => {
    const { test, table } = await oneShardCluster()
    await (await admin(test, [s0, s1])).setTopology([{ id: s0.id, weight: 2 }])
    const seen: unknown[] = []
    const outcome = test.cluster.transaction(
      async (tx) => {
        try {
          await tx.forShard(s0.id)(table).insert({ id: 1, balance: 1 })
        } catch (error) {
          seen.push(error)
        }
      },
      { isolationLevel },
    )
    await expect(outcome).rejects.toThrow()
    expect(seen[0]).toBeInstanceOf(StaleTopologyError)
    expect(await test.balances(table, s0.id)).toEqual(new Map())
    // The failed attempt made the process reload: the next one routes by epoch 2 and commits.
    await test.cluster.transaction((tx) => tx.forShard(s0.id)(table).insert({ id: 2, balance: 2 }), { isolationLevel })
    expect([...(await test.balances(table, s0.id)).keys()]).toEqual([2])
  })

  test('an epoch change waits for a prepared branch, names it when it gives up, and changes nothing', async () => {
    let release: () => void = () => {}
    const paused = new Promise<void>((resolve) => {
      release = resolve
    })
    let reachedDecide: (txId: string) => void = () => {}
    const atDecide = new Promise<string>((resolve) => {
      reachedDecide = resolve
    })
    // The log on a third shard: a log shard that writes commits one-phase and is never prepared.
    const logShard = sharedShards(dialect === 'postgres' ? 'mysql' : 'postgres')[0]!
    const test = await startTestCluster([s0, s1, logShard], {
      log: logShard.id,
      onStep: async (event) => {
        if (event.step !== 'decide') return
        reachedDecide(event.txId)
        await paused
      },
    })
    opened.push(test)
    const table = test.table('held')
    await test.createAccounts(table, [s0.id, s1.id], [{ id: 1, balance: 10 }])
    const transfer = test.cluster.transaction(async (tx) => {
      await tx.forShard(s0.id)(table).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard(s1.id)(table).where({ id: 1 }).increment('balance', 1)
    })
    const txId = await atDecide // both branches are prepared now
    const ops = createCluster({ shards: [s0, s1, logShard], log: logShard.id, prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(ops)
    const target = [{ id: s0.id }, { id: s1.id, weight: 2 }, { id: logShard.id }]
    try {
      const blocked = ops.setTopology(target, { lockWaitMs: 50, timeoutMs: 400 })
      await expect(blocked).rejects.toBeInstanceOf(TopologyChangeBlockedError)
      const error = (await blocked.catch((e: unknown) => e)) as TopologyChangeBlockedError
      expect(error.blockers.join('\n')).toMatch(new RegExp(txId))
      expect((await ops.topology()).fences.map((f) => f.epoch)).toEqual([1, 1, 1])
    } finally {
      release()
      await transfer
    }
    const change = await ops.setTopology(target, { lockWaitMs: 50, timeoutMs: 10_000 })
    expect(change.to.epoch).toBe(2)
    expect((await ops.topology()).fences.map((f) => f.epoch)).toEqual([2, 2, 2])
  })

  test('an epoch change under load finishes while transfers run, and the transfers conserve their total', async () => {
    const test = await startTestCluster([s0, s1])
    opened.push(test)
    const table = test.table('load')
    const rows = [1, 2, 3, 4].map((id) => ({ id, balance: 100 }))
    await test.createAccounts(table, [s0.id, s1.id], rows)
    await test.cluster.transaction(async () => {})
    const ops = await admin(test, [s0, s1])
    let changed = false
    let committedBefore = 0
    let committedAfter = 0
    let running: () => void = () => {}
    const underLoad = new Promise<void>((resolve) => {
      running = resolve
    })
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !changed || committedAfter < 20; i++) {
        const [from, to] = (i + w) % 2 === 0 ? [s0.id, s1.id] : [s1.id, s0.id]
        const id = 1 + (w % 4)
        await test.cluster.transaction(
          async (tx) => {
            await tx.forShard(from)(table).where({ id }).decrement('balance', 1)
            await tx.forShard(to)(table).where({ id }).increment('balance', 1)
          },
          { retry: { attempts: 50, backoff: (n) => Math.min(50, 2 ** n) } },
        )
        if (changed) committedAfter++
        else if (++committedBefore === 20) running()
      }
    }
    const workers = Promise.all([0, 1, 2, 3].map(worker))
    await underLoad
    const change = await ops.setTopology([{ id: s0.id, weight: 3 }, { id: s1.id }], { lockWaitMs: 100, timeoutMs: 60_000 })
    changed = true
    await workers
    expect(change.to.epoch).toBe(2)
    const total = [...(await test.balances(table, s0.id)).values(), ...(await test.balances(table, s1.id)).values()].reduce((a, b) => a + b, 0)
    expect(total).toBe(800)
    expect(await test.preparedBranches()).toEqual([])
  })

  test('a shard that missed migrate() refuses its first branch as stale, and the reload gives it its fence', async () => {
    const test = await startTestCluster([s0])
    opened.push(test)
    await test.cluster.transaction(async () => {})
    await test.cluster.forShard(s0.id).schema.dropTable(`${test.logTable}_fence`)
    const refused = test.cluster.transaction((tx) => tx.forShard(s0.id).raw('select 1'))
    await expect(refused).rejects.toMatchObject({ name: 'StaleTopologyError', shardEpoch: 0, routedEpoch: 1 })
    await test.cluster.transaction((tx) => tx.forShard(s0.id).raw('select 1'))
    expect((await test.cluster.topology()).fences.map((f) => f.epoch)).toEqual([1])
    // A process starting now gives the shard its fence at first use, before any branch.
    await test.cluster.forShard(s0.id).schema.dropTable(`${test.logTable}_fence`)
    const fresh = createCluster({ shards: [s0], prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(fresh)
    await fresh.transaction((tx) => tx.forShard(s0.id).raw('select 1'))
  })
})
