import { randomBytes } from 'node:crypto'
import { type Cluster, type ClusterOptions, createCluster, type ShardConfig } from '../../src/index.js'

/**
 * A bank over some of the shared test servers, with its own log table, branch
 * prefix and table names: `accounts` (sharded by id) and `currencies` (a
 * reference table), created on every shard it may ever use.
 */
export interface ReshardBank {
  cluster: Cluster
  accounts: string
  currencies: string
  prefix: string
  logTable: string
  /** Another process over the same cluster (same log, prefix and tables). */
  sibling(shards: ShardConfig[], extra?: Partial<ClusterOptions>): Cluster
  /** Every account, from every shard, read directly. */
  allAccounts(): Promise<{ shardId: string; id: number; balance: number }[]>
  close(): Promise<void>
}

export async function startReshardBank(
  routed: ShardConfig[],
  every: ShardConfig[],
  accounts: number,
  extra: Partial<ClusterOptions> = {},
): Promise<ReshardBank> {
  const suffix = randomBytes(4).toString('hex')
  const names = { accounts: `acc_${suffix}`, currencies: `cur_${suffix}` }
  const prefix = `r${suffix}_`
  const logTable = `log_${suffix}`
  const tables = { [names.accounts]: { shardKey: 'id' }, [names.currencies]: { reference: true as const } }
  const opened: Cluster[] = []
  const make = (shards: ShardConfig[], more: Partial<ClusterOptions> = {}): Cluster => {
    const cluster = createCluster({ shards, prefix, logTable, tables, recovery: false, log: routed[0]!.id, ...extra, ...more })
    opened.push(cluster)
    return cluster
  }
  // The working process connects to every shard (a mover must) and follows the stored topology,
  // which the first process, configured with `routed`, stores.
  const cluster = make(every, { topology: 'follow' })
  await cluster.migrate()
  const setup = make(routed)
  await Promise.all(
    every.map(async (shard) => {
      const knex = cluster.forShard(shard.id)
      await knex.schema.createTable(names.accounts, (t) => {
        t.integer('id').primary()
        t.integer('balance').notNullable()
        t.string('note', 32).nullable()
      })
      await knex.schema.createTable(names.currencies, (t) => {
        t.string('code', 3).primary()
        t.string('name', 32).notNullable()
      })
    }),
  )
  await setup.table(names.currencies).insert([
    { code: 'EUR', name: 'euro' },
    { code: 'USD', name: 'dollar' },
  ])
  const rows = [...Array(accounts).keys()].map((id) => ({ id, balance: 100, note: `n${id}` }))
  for (let i = 0; i < rows.length; i += 200) await setup.table(names.accounts).insert(rows.slice(i, i + 200))
  await setup.close()
  opened.splice(opened.indexOf(setup), 1)
  return {
    cluster,
    ...names,
    prefix,
    logTable,
    sibling: make,
    async allAccounts() {
      const found: { shardId: string; id: number; balance: number }[] = []
      for (const shard of every) {
        const rows = (await cluster.forShard(shard.id)(names.accounts).select('id', 'balance')) as { id: number; balance: number }[]
        for (const r of rows) found.push({ shardId: shard.id, id: Number(r.id), balance: Number(r.balance) })
      }
      return found
    },
    async close() {
      for (const shard of every) {
        const knex = cluster.forShard(shard.id)
        for (const t of [names.accounts, names.currencies, `${logTable}_fence`, `${logTable}_fence_migrations`, `${logTable}_fence_migrations_lock`]) {
          await knex.schema.dropTableIfExists(t).catch(() => {})
        }
      }
      const log = cluster.forShard(routed[0]!.id)
      for (const t of [logTable, `${logTable}_topology`, `${logTable}_reshard`, `${logTable}_migrations`, `${logTable}_migrations_lock`]) {
        await log.schema.dropTableIfExists(t).catch(() => {})
      }
      await Promise.all(opened.splice(0).map((c) => c.close()))
    },
  }
}
