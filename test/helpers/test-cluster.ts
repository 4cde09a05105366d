import { randomBytes } from 'node:crypto'
import { type Cluster, type ClusterOptions, createCluster, type ShardConfig, type StepEvent } from '../../src/index.js'

/**
 * A cluster over the shared test servers that keeps to itself: its own branch
 * prefix, log table and table names, so test files running side by side (and
 * their recoveries) never see each other's work.
 */
export interface TestCluster {
  cluster: Cluster
  /** The cluster's branch prefix and log table, for a second cluster over the same log. */
  prefix: string
  logTable: string
  /** Unique names for this test's tables. */
  table(name: string): string
  /** Rows of the log table, read directly. */
  logRecords(): Promise<{ tx_id: string; decision: string }[]>
  /** Every protocol step seen so far. */
  steps: StepEvent[]
  /** Creates `accounts`-like tables (id int primary key, balance int) on the given shards with rows. */
  createAccounts(table: string, shardIds: string[], rows: { id: number; balance: number }[]): Promise<void>
  /** Balances of a table on one shard, by id. */
  balances(table: string, shardId: string): Promise<Map<number, number>>
  /** Our prepared branches left on any shard. */
  preparedBranches(): Promise<{ txId: string; shardId: string }[]>
  close(): Promise<void>
}

export async function startTestCluster(
  shards: ShardConfig[],
  options: Partial<ClusterOptions> = {},
): Promise<TestCluster> {
  const suffix = randomBytes(4).toString('hex')
  const steps: StepEvent[] = []
  const userHook = options.onStep
  const prefix = options.prefix ?? `t${suffix}_`
  const logTable = options.logTable ?? `log_${suffix}`
  const cluster = createCluster({
    recovery: false,
    ...options,
    prefix,
    logTable,
    shards,
    onStep: (event) => {
      steps.push(event)
      return userHook?.(event)
    },
  })
  await cluster.migrate()
  const created: { table: string; shardId: string }[] = []
  const test: TestCluster = {
    cluster,
    prefix,
    logTable,
    steps,
    table: (name) => `${name}_${suffix}`,
    async logRecords() {
      const logShard = options.log ?? shards[0]!.id
      return (await cluster.forShard(logShard)(logTable).select()) as { tx_id: string; decision: string }[]
    },
    async createAccounts(table, shardIds, rows) {
      await Promise.all(
        shardIds.map(async (shardId) => {
          const knex = cluster.forShard(shardId)
          await knex.schema.createTable(table, (t) => {
            t.integer('id').primary()
            t.integer('balance').notNullable()
          })
          created.push({ table, shardId })
          if (rows.length > 0) await knex(table).insert(rows)
        }),
      )
    },
    async balances(table, shardId) {
      const rows = (await cluster.forShard(shardId)(table).select('id', 'balance')) as { id: number; balance: number }[]
      return new Map(rows.map((r) => [Number(r.id), Number(r.balance)]))
    },
    async preparedBranches() {
      return (await cluster.inDoubt()).map(({ txId, shardId }) => ({ txId, shardId }))
    },
    async close() {
      await Promise.all(created.map(({ table, shardId }) => cluster.forShard(shardId).schema.dropTableIfExists(table)))
      await cluster.close()
    },
  }
  return test
}
