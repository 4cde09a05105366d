import { randomBytes } from 'node:crypto'
import type { Cluster } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

export const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1'] as const

/**
 * A test cluster over the shared servers (log on `pg-0`) with three declared
 * tables, created empty on every shard under names of their own:
 * - `accounts` (id int pk, owner varchar null, balance int, score bigint null), sharded by `id`;
 * - `orders` (tenant, id, amount; pk tenant+id), sharded by the composite key `tenant:id`;
 * - `currencies` (code pk, rate), a reference table.
 */
export interface ShardedFixture {
  t: TestCluster
  cluster: Cluster
  accounts: string
  orders: string
  currencies: string
  /** The composite key of an order, as the declaration computes it. */
  orderKey(tenant: string, id: number): string
  /** Rows of `table` on every shard, read directly, sorted by id (or code). */
  rowsByShard(table: string): Promise<Record<string, Record<string, unknown>[]>>
  /** Ids (at least `perShard` per shard) whose owner is each shard, from 1 upward. */
  idsOwnedBy(perShard?: number): Record<string, number[]>
  /** Deletes every row of every table on every shard. */
  clear(): Promise<void>
  close(): Promise<void>
}

export async function startShardedFixture(): Promise<ShardedFixture> {
  // Names are fixed before the cluster exists (the declaration needs them), unique per run.
  const suffix = randomBytes(4).toString('hex')
  const accounts = `accounts_${suffix}`
  const orders = `orders_${suffix}`
  const currencies = `currencies_${suffix}`
  const orderKey = (tenant: string, id: number): string => `${tenant}:${id}`
  const t = await startTestCluster(sharedShards(), {
    log: 'pg-0',
    tables: {
      [accounts]: { shardKey: 'id' },
      [orders]: { shardKey: (row) => orderKey(row.tenant, row.id), keyColumns: ['tenant', 'id'] },
      [currencies]: { reference: true },
    },
  })
  const { cluster } = t
  await Promise.all(
    SHARDS.map(async (shardId) => {
      // A knex SchemaBuilder accumulates statements: take a fresh one per table.
      const knex = cluster.forShard(shardId)
      await knex.schema.createTable(accounts, (table) => {
        table.integer('id').primary()
        table.string('owner', 20).nullable()
        table.integer('balance').notNullable()
        table.bigInteger('score').nullable()
      })
      await knex.schema.createTable(orders, (table) => {
        table.string('tenant', 20).notNullable()
        table.integer('id').notNullable()
        table.integer('amount').notNullable()
        table.primary(['tenant', 'id'])
      })
      await knex.schema.createTable(currencies, (table) => {
        table.string('code', 3).primary()
        table.integer('rate').notNullable()
      })
    }),
  )
  const tables = [accounts, orders, currencies]
  return {
    t,
    cluster,
    accounts,
    orders,
    currencies,
    orderKey,
    async rowsByShard(table) {
      const byShard: Record<string, Record<string, unknown>[]> = {}
      await Promise.all(
        SHARDS.map(async (shardId) => {
          const order = table === currencies ? 'code' : 'id'
          byShard[shardId] = (await cluster.forShard(shardId)(table).select().orderBy(order)) as Record<string, unknown>[]
        }),
      )
      return byShard
    },
    idsOwnedBy(perShard = 1) {
      const owned: Record<string, number[]> = Object.fromEntries(SHARDS.map((s) => [s, []]))
      for (let id = 1; SHARDS.some((s) => owned[s]!.length < perShard); id++) owned[cluster.shardFor(id)]!.push(id)
      return owned
    },
    async clear() {
      await Promise.all(SHARDS.flatMap((shardId) => tables.map((table) => cluster.forShard(shardId)(table).del())))
    },
    async close() {
      await Promise.all(SHARDS.flatMap((shardId) => tables.map((table) => cluster.forShard(shardId).schema.dropTableIfExists(table))))
      await t.close()
    },
  }
}
