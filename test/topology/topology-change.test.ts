import { afterEach, describe, expect, test } from 'vitest'
import { createLogTableMigration } from '../../migrations/20261129000000_create_shardtx_log.js'
import { type Cluster, ConfigError, createCluster, type ShardConfig, StaleTopologyError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const opened: (TestCluster | Cluster)[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

function sibling(of: TestCluster, shards: ShardConfig[], extra: Partial<Parameters<typeof createCluster>[0]> = {}): Cluster {
  const cluster = createCluster({ shards, prefix: of.prefix, logTable: of.logTable, recovery: false, topology: 'follow', ...extra })
  opened.push(cluster)
  return cluster
}

describe('changing the topology', () => {
  test('migrate() upgrades a log shard migrated before topologies, keeping its log records', async () => {
    const [a] = sharedShards()
    const logTable = `log_up_${Math.random().toString(36).slice(2, 8)}`
    const old = createCluster({ shards: [a!], logTable, recovery: false })
    opened.push(old)
    const knex = old.forShard(a!.id)
    const oldSource = {
      getMigrations: async () => ['20261129000000_create_shardtx_log'],
      getMigrationName: (name: string) => name,
      getMigration: async () => createLogTableMigration(logTable),
    }
    await knex.migrate.latest({ migrationSource: oldSource, tableName: `${logTable}_migrations` })
    await knex(logTable).insert({ tx_id: 'kept', decision: 'abort', participants: a!.id, created_at: 1 })
    try {
      await old.migrate()
      expect((await knex(logTable).select('tx_id')).map((r) => r.tx_id)).toEqual(['kept'])
      await old.transaction(async () => {})
      expect((await old.topology()).epoch).toBe(1)
    } finally {
      for (const t of [logTable, `${logTable}_topology`, `${logTable}_fence`, `${logTable}_migrations`, `${logTable}_migrations_lock`]) {
        await knex.schema.dropTableIfExists(t)
      }
    }
  })

  test('adding and removing a shard: each bumps the epoch on every shard involved, and a removed shard refuses stale writers', async () => {
    const [a, b, c] = sharedShards()
    const test = await startTestCluster([a!, b!])
    opened.push(test)
    const table = test.table('plain')
    await test.createAccounts(table, [a!.id, b!.id], [])
    await test.cluster.transaction(async () => {}) // stores [a, b] at epoch 1
    const stale = sibling(test, [a!, b!, c!])
    await stale.transaction(async () => {}) // routes by epoch 1
    const ops = sibling(test, [a!, b!, c!])
    await ops.migrate()
    const added = await ops.setTopology([{ id: a!.id }, { id: b!.id }, { id: c!.id }])
    expect(added.diff.added).toEqual([c!.id])
    const removed = await ops.setTopology([{ id: a!.id }, { id: c!.id }])
    expect(removed.diff.removed).toEqual([b!.id])
    expect(removed.to.epoch).toBe(3)
    const report = await ops.topology()
    expect(report.shards.map((s) => s.id)).toEqual([a!.id, c!.id].sort())
    expect(Object.fromEntries(report.fences.map((f) => [f.shardId, f.epoch]))).toEqual({ [a!.id]: 3, [b!.id]: 3, [c!.id]: 3 })
    await expect(stale.transaction((tx) => tx.forShard(b!.id)(table).insert({ id: 1, balance: 1 }))).rejects.toBeInstanceOf(StaleTopologyError)
    expect(await test.balances(table, b!.id)).toEqual(new Map())
  })

  test('a change that moves slots of declared sharded tables is refused, unless allowed and no moving slot holds rows', async () => {
    const [a, b] = sharedShards()
    const test = await startTestCluster([a!, b!])
    opened.push(test)
    const table = test.table('items')
    await test.createAccounts(table, [a!.id, b!.id], [])
    const ops = sibling(test, [a!, b!], { tables: { [table]: { shardKey: 'id' } } })
    await ops.transaction(async () => {})
    const removeB = [{ id: a!.id }]
    await expect(ops.setTopology(removeB)).rejects.toThrow(/moves slots away from .* declared sharded.*allowEmptyMove/)

    // A row on b: removing b would strand it.
    const onB = [...Array(100).keys()].find((id) => ops.shardFor(id) === b!.id)!
    await ops.table(table).insert({ id: onB, balance: 5 })
    const refused = ops.setTopology(removeB, { allowEmptyMove: true })
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow(new RegExp(`1 row\\(s\\) of ${table} on ${b!.id} \\(e\\.g\\. key ${onB}\\)`))
    expect((await ops.topology()).epoch).toBe(1)

    await ops.table(table).where({ id: onB }).delete()
    const change = await ops.setTopology(removeB, { allowEmptyMove: true })
    expect(change.to.epoch).toBe(2)
    expect(ops.shardFor(onB)).toBe(a!.id)
  })

  test('bad targets are ConfigErrors before anything is claimed', async () => {
    const [a, b] = sharedShards()
    const test = await startTestCluster([a!, b!])
    opened.push(test)
    const { cluster } = test
    await expect(cluster.setTopology([])).rejects.toThrow(/at least one shard/)
    await expect(cluster.setTopology([{ id: 'nowhere' }])).rejects.toThrow(/no connection for shard "nowhere"/)
    await expect(cluster.setTopology([{ id: b!.id }])).rejects.toThrow(/must keep the log shard/)
    await expect(cluster.setTopology([{ id: a!.id, weight: -1 }, { id: b!.id }])).rejects.toThrow(ConfigError)
    const other = a!.dialect === 'postgres' ? 'mysql' : 'postgres'
    await expect(cluster.setTopology([{ id: a!.id, dialect: other }, { id: b!.id }])).rejects.toThrow(/dialect/)
    // Entries that are not objects, holes, and a misspelt key (which would pass as the default weight).
    await expect(cluster.setTopology([null as never, { id: b!.id }])).rejects.toThrow(/topology\[0\]: must be an object/)
    // eslint-disable-next-line no-sparse-arrays
    await expect(cluster.setTopology([, { id: a!.id }] as never)).rejects.toThrow(/topology\[0\]: must be an object/)
    await expect(cluster.setTopology([{ id: a!.id, wieght: 3 } as never, { id: b!.id }])).rejects.toThrow(/topology\[0\]\.wieght: unknown option/)
    // The options too, as moveLog's and reshard's are.
    const target = [{ id: a!.id, weight: 2 }, { id: b!.id }]
    await expect(cluster.setTopology(target, null as never)).rejects.toBeInstanceOf(ConfigError)
    await expect(cluster.setTopology(target, { lockWaitMs: Number.NaN })).rejects.toThrow(/options\.lockWaitMs/)
    await expect(cluster.setTopology(target, { timeoutMs: 'soon' as never })).rejects.toThrow(/options\.timeoutMs/)
    await expect(cluster.setTopology(target, { onStep: 'x' as never })).rejects.toThrow(/options\.onStep: must be a function/)
    await expect(cluster.setTopology(target, { allowEmptyMoves: true } as never)).rejects.toThrow(/allowEmptyMoves: unknown option/)
    expect((await cluster.topology()).epoch).toBe(1)
    expect((await cluster.topology()).pending).toBeUndefined()
  })

  test('a change whose step hook fails before a raise lets that fence go: running the change again finishes it', async () => {
    const [a, b] = sharedShards()
    const test = await startTestCluster([a!, b!])
    opened.push(test)
    const { cluster } = test
    const table = test.table('plain')
    await test.createAccounts(table, [a!.id, b!.id], [{ id: 1, balance: 0 }])
    const target = [{ id: a!.id, weight: 2 }, { id: b!.id }]
    const first = [a!.id, b!.id].sort()[0]!
    const failed = cluster.setTopology(target, {
      onStep: (event) => {
        if (event.step === 'raise' && event.shardId === first) throw new Error('the hook failed')
      },
    })
    await expect(failed).rejects.toMatchObject({ code: 'TOPOLOGY_CHANGE_INCOMPLETE' })
    // The failed shard's fence was held, not raised: it must not stay held (it blocked every branch there, and the change itself).
    const again = await cluster.setTopology(target, { timeoutMs: 5_000 })
    expect(again.to.epoch).toBe(2)
    await cluster.transaction(async (tx) => {
      await tx.forShard(a!.id)(table).where({ id: 1 }).increment('balance', 1)
      await tx.forShard(b!.id)(table).where({ id: 1 }).increment('balance', 1)
    }, { retry: { attempts: 3 } })
    expect((await test.balances(table, first)).get(1)).toBe(1)
  })
})
