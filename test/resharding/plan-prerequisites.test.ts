import { randomBytes } from 'node:crypto'
import type { Knex } from 'knex'
import { afterEach, describe, expect, test } from 'vitest'
import { type Cluster, ConfigError, createCluster } from '../../src/index.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * The plan's prerequisites (issue 18): a sharded table needs a primary key and an
 * index that starts with its shard key, and each column must hold the same kind of
 * value on every shard of both sets, across PostgreSQL and MariaDB. A problem
 * refuses the job; a warning (a narrower column somewhere) is reported.
 */

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

type Build = (t: Knex.CreateTableBuilder, dialect: 'postgres' | 'mysql') => void

/** A cluster over one PostgreSQL and one MariaDB shard, adding a second MariaDB shard; `orders` built per dialect by `build`. */
async function clusterWith(build: Build): Promise<{ cluster: Cluster; target: { id: string }[]; orders: string }> {
  const [pg] = sharedShards('postgres')
  const [my0, my1] = sharedShards('mysql')
  const shards = [pg!, my0!, my1!]
  const suffix = randomBytes(4).toString('hex')
  const orders = `ord_${suffix}`
  const logTable = `log_${suffix}`
  const cluster = createCluster({
    shards: [pg!, my0!],
    log: pg!.id,
    prefix: `p${suffix}_`,
    logTable,
    recovery: false,
    tables: { [orders]: { shardKey: 'user_id' } },
  })
  const every = createCluster({ shards, log: pg!.id, prefix: `p${suffix}_`, logTable, recovery: false, topology: 'follow', tables: { [orders]: { shardKey: 'user_id' } } })
  await cluster.migrate()
  await cluster.transaction(async () => {}) // stores the two-shard topology first
  for (const shard of shards) await every.forShard(shard.id).schema.createTable(orders, (t) => build(t, shard.dialect))
  cleanups.push(async () => {
    for (const shard of shards) {
      const knex = every.forShard(shard.id)
      for (const t of [orders, `${logTable}_fence`, `${logTable}_fence_migrations`, `${logTable}_fence_migrations_lock`]) await knex.schema.dropTableIfExists(t).catch(() => {})
    }
    for (const t of [logTable, `${logTable}_topology`, `${logTable}_reshard`, `${logTable}_migrations`, `${logTable}_migrations_lock`]) {
      await every.forShard(pg!.id).schema.dropTableIfExists(t).catch(() => {})
    }
    await cluster.close()
    await every.close()
  })
  await every.migrate()
  return { cluster: every, target: shards.map((s) => ({ id: s.id })), orders }
}

describe('reshard plan prerequisites', () => {
  test('the usual knex column types map between PostgreSQL and MariaDB: no problem; a blob is limited to 64 KiB on MariaDB', async () => {
    const { cluster, target, orders } = await clusterWith((t) => {
      t.integer('id').primary()
      t.integer('user_id').notNullable().index()
      t.string('note', 40)
      t.boolean('paid')
      t.json('doc')
      t.uuid('ref')
      t.decimal('amount', 12, 2)
      t.timestamp('at')
      t.date('day')
      t.double('ratio')
      t.binary('blob')
    })
    const plan = await cluster.reshardPlan(target)
    expect(plan.problems).toEqual([])
    expect(plan.warnings).toEqual([`column ${orders}.blob has different lengths (65535 on my-0, 65535 on my-1, unlimited on pg-0): a longer value cannot move to the shorter one`])
    expect(plan.slotsMoving).toBeGreaterThan(0)
  })

  test('no primary key, no index on the shard key, and a column of another kind are problems that refuse the job', async () => {
    const { cluster, target, orders } = await clusterWith((t, dialect) => {
      t.integer('id')
      t.integer('user_id').notNullable()
      if (dialect === 'postgres') t.integer('amount')
      else t.string('amount', 20)
    })
    const plan = await cluster.reshardPlan(target)
    expect(plan.problems.some((p) => p.includes(`table ${orders}`) && p.includes('no primary key'))).toBe(true)
    expect(plan.problems.some((p) => p.includes('no index that starts with its shard key (user_id)'))).toBe(true)
    expect(plan.problems.some((p) => p.includes(`column ${orders}.amount holds different kinds of value`) && p.includes('integer') && p.includes('varchar'))).toBe(true)
    const refused = await cluster.reshard(target).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ConfigError)
    expect(String((refused as Error).message)).toContain('no primary key')
    expect(await cluster.reshardStatus()).toBeUndefined()
  })

  test('a narrower integer or string on some shard is a warning, and the job may run', async () => {
    const { cluster, target, orders } = await clusterWith((t, dialect) => {
      t.increments('id').primary()
      t.integer('user_id').notNullable().index()
      if (dialect === 'postgres') t.bigInteger('total')
      else t.integer('total')
      t.string('note', dialect === 'postgres' ? 80 : 40)
    })
    const plan = await cluster.reshardPlan(target)
    expect(plan.problems).toEqual([])
    expect(plan.warnings.some((w) => w.includes(`column ${orders}.total has integers of different widths`))).toBe(true)
    expect(plan.warnings.some((w) => w.includes(`column ${orders}.note has different lengths`) && w.includes('80') && w.includes('40'))).toBe(true)
  })
})
