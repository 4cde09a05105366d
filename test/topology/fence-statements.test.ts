import { afterEach, describe, expect, test } from 'vitest'
import { type Cluster, createCluster, type IsolationLevel, type ShardConfig, StaleTopologyError, TopologyChangeBlockedError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * The fence's statements as each dialect sends them on a connection that has run
 * many branches (PostgreSQL: the check as a named statement, past its custom plans
 * to the cached generic one). One connection per shard (pool max 1), so that every
 * branch and every look at the session runs on the same server session.
 */
const opened: (TestCluster | Cluster)[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

const ISOLATION_LEVELS: IsolationLevel[] = ['read uncommitted', 'read committed', 'repeatable read', 'serializable']
/** More than the 5 custom plans PostgreSQL makes before it settles on a generic one. */
const WARM_UP = 8

function oneConnection(shard: ShardConfig): ShardConfig {
  return { ...shard, pool: { min: 0, max: 1 } }
}

async function admin(of: TestCluster, shards: ShardConfig[]): Promise<Cluster> {
  const cluster = createCluster({ shards, prefix: of.prefix, logTable: of.logTable, recovery: false, topology: 'follow' })
  opened.push(cluster)
  await cluster.migrate()
  return cluster
}

describe('the PostgreSQL fence check as a named statement', () => {
  const [p0, p1] = sharedShards('postgres') as [ShardConfig, ShardConfig]

  async function warmCluster(shards: ShardConfig[], options: Parameters<typeof startTestCluster>[1] = {}): Promise<{ test: TestCluster; table: string }> {
    const test = await startTestCluster(shards.map(oneConnection), options)
    opened.push(test)
    const table = test.table('fenced')
    await test.createAccounts(table, [p0.id], [{ id: 1, balance: 100 }])
    for (let i = 0; i < WARM_UP; i++) await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1))
    return { test, table }
  }

  async function checkStatement(test: TestCluster): Promise<{ generic_plans: string; custom_plans: string } | undefined> {
    const result = await test.cluster
      .forShard(p0.id)
      .raw<{ rows: { generic_plans: string; custom_plans: string }[] }>(
        `SELECT generic_plans::text, custom_plans::text FROM pg_prepared_statements WHERE name = 'shardtx_fence_check'`,
      )
    return result.rows[0]
  }

  test('is prepared once on the connection and runs its generic plan', async () => {
    const { test } = await warmCluster([p0])
    const statement = await checkStatement(test)
    expect(statement).toBeDefined()
    expect(Number(statement!.generic_plans)).toBeGreaterThan(0)
  })

  test.each(ISOLATION_LEVELS)('under %s, its generic plan refuses a stale branch, whose write never commits', async (isolationLevel) => {
    const { test, table } = await warmCluster([p0])
    for (let i = 0; i < WARM_UP; i++) {
      await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1), { isolationLevel })
    }
    const warmed = (await checkStatement(test))!
    expect(Number(warmed.generic_plans)).toBeGreaterThan(0)
    await (await admin(test, [p0, p1])).setTopology([{ id: p0.id, weight: 2 }])

    const refused = test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1000), { isolationLevel })
    await expect(refused).rejects.toBeInstanceOf(StaleTopologyError)
    await expect(refused).rejects.toMatchObject({ shardId: p0.id, routedEpoch: 1, shardEpoch: 2 })
    expect((await test.balances(table, p0.id)).get(1)).toBe(100 + 2 * WARM_UP)
    // The reload moves the process to epoch 2: the same prepared statement, now bound with 2, lets it through.
    await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1), { isolationLevel })
    expect((await test.balances(table, p0.id)).get(1)).toBe(101 + 2 * WARM_UP)
    // The refusal kept the statement and its generic plan: no new custom plan was made.
    const after = (await checkStatement(test))!
    expect(after.custom_plans).toBe(warmed.custom_plans)
    expect(Number(after.generic_plans)).toBe(Number(warmed.generic_plans) + 2)
  })

  test('a prepared branch keeps the fence lock it took through the named statement path: an epoch change is blocked until it commits', async () => {
    let release: () => void = () => {}
    const paused = new Promise<void>((resolve) => {
      release = resolve
    })
    let pause = false
    let reachedDecide: () => void = () => {}
    const atDecide = new Promise<void>((resolve) => {
      reachedDecide = resolve
    })
    // The log on a MariaDB shard: both PostgreSQL branches are prepared (a written log shard commits one-phase).
    const logShard = sharedShards('mysql')[0]!
    const test = await startTestCluster([p0, p1, logShard].map(oneConnection), {
      log: logShard.id,
      onStep: async (event) => {
        if (!pause || event.step !== 'decide') return
        reachedDecide()
        await paused
      },
    })
    opened.push(test)
    const table = test.table('held')
    await test.createAccounts(table, [p0.id, p1.id], [{ id: 1, balance: 100 }])
    const transfer = (): Promise<void> =>
      test.cluster.transaction(async (tx) => {
        await tx.forShard(p0.id)(table).where({ id: 1 }).decrement('balance', 1)
        await tx.forShard(p1.id)(table).where({ id: 1 }).increment('balance', 1)
      })
    for (let i = 0; i < WARM_UP; i++) await transfer()
    expect(Number((await checkStatement(test))!.generic_plans)).toBeGreaterThan(0)

    pause = true
    const held = transfer()
    await atDecide // both PostgreSQL branches are prepared now
    const ops = createCluster({ shards: [p0, p1, logShard], log: logShard.id, prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(ops)
    try {
      // The prepared transaction, not a session, holds ROW SHARE on the fence.
      const locks = await ops.forShard(p0.id).raw<{ rows: { pid: number | null }[] }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'relation' AND relation = ?::regclass AND mode = 'RowShareLock' AND granted`,
        [`"${test.logTable}_fence"`],
      )
      expect(locks.rows.map((r) => r.pid)).toEqual([null])
      const blocked = ops.setTopology([{ id: p0.id, weight: 2 }, { id: p1.id }, { id: logShard.id }], { lockWaitMs: 50, timeoutMs: 300 })
      await expect(blocked).rejects.toBeInstanceOf(TopologyChangeBlockedError)
      expect((await ops.topology()).fences.map((f) => f.epoch)).toEqual([1, 1, 1])
    } finally {
      release()
      await held
    }
    expect((await ops.setTopology([{ id: p0.id, weight: 2 }, { id: p1.id }, { id: logShard.id }], { lockWaitMs: 50 })).to.epoch).toBe(2)
  })

  test('a fence table dropped under the cached plan refuses the next branch as epoch 0; the reload makes a new one and branches pass', async () => {
    const { test, table } = await warmCluster([p0])
    await test.cluster.forShard(p0.id).schema.dropTable(`${test.logTable}_fence`)
    const refused = test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1000))
    await expect(refused).rejects.toMatchObject({ name: 'StaleTopologyError', shardEpoch: 0, routedEpoch: 1 })
    await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1))
    expect((await test.balances(table, p0.id)).get(1)).toBe(101 + WARM_UP)
  })

  test('a connection whose first check finds no fence table refuses the branch as epoch 0, and parses the check again once there is one', async () => {
    const test = await startTestCluster([oneConnection(p0)])
    opened.push(test)
    const table = test.table('fresh')
    await test.createAccounts(table, [p0.id], [{ id: 1, balance: 100 }])
    await test.cluster.transaction(async () => {}) // first use: epoch 1, no branch yet
    await test.cluster.forShard(p0.id).schema.dropTable(`${test.logTable}_fence`)
    expect(await checkStatement(test)).toBeUndefined()
    const refused = test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1000))
    await expect(refused).rejects.toMatchObject({ name: 'StaleTopologyError', shardEpoch: 0, routedEpoch: 1 })
    await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1))
    expect((await test.balances(table, p0.id)).get(1)).toBe(101)
    expect(await checkStatement(test)).toBeDefined()
  })

  test('a fence table replaced under the cached plan: the check reads the new one', async () => {
    const { test, table } = await warmCluster([p0])
    const fence = `"${test.logTable}_fence"`
    const next = `"${test.logTable}_fence_next"`
    await test.cluster.forShard(p0.id).transaction(async (trx) => {
      await trx.raw(`CREATE TABLE ${next} (LIKE ${fence} INCLUDING ALL)`)
      await trx.raw(`INSERT INTO ${next} SELECT shard_id, epoch + 1, log_shard FROM ${fence}`)
      await trx.raw(`DROP TABLE ${fence}`)
      await trx.raw(`ALTER TABLE ${next} RENAME TO ${fence}`)
    })
    const refused = test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1000))
    await expect(refused).rejects.toMatchObject({ name: 'StaleTopologyError', shardEpoch: 2, routedEpoch: 1 })
    expect((await test.balances(table, p0.id)).get(1)).toBe(100 + WARM_UP)
  })

  test('a session that lost its prepared statements (DEALLOCATE ALL) prepares the check again in the same call', async () => {
    const { test, table } = await warmCluster([p0])
    await test.cluster.forShard(p0.id).raw('DEALLOCATE ALL')
    expect(await checkStatement(test)).toBeUndefined()
    await test.cluster.transaction((tx) => tx.forShard(p0.id)(table).where({ id: 1 }).increment('balance', 1))
    expect((await test.balances(table, p0.id)).get(1)).toBe(101 + WARM_UP)
    expect(await checkStatement(test)).toBeDefined()
  })
})
