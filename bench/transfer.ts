import type { Knex } from 'knex'
import type { Cluster, RetryOptions } from '../src/index.js'

/** Accounts per shard in every benchmark table. */
export const ACCOUNTS = 10_000

/** (Re)creates the `accounts` table on one shard with ACCOUNTS rows (ids 1..ACCOUNTS). */
export async function createAccounts(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('accounts')
  await knex.schema.createTable('accounts', (t) => {
    t.integer('id').primary()
    t.bigInteger('balance').notNullable()
  })
  for (let start = 1; start <= ACCOUNTS; start += 1_000) {
    await knex('accounts').insert(Array.from({ length: 1_000 }, (_, i) => ({ id: start + i, balance: 1_000_000 })))
  }
}

export function randomAccount(): number {
  return 1 + Math.floor(Math.random() * ACCOUNTS)
}

/** W1 / W2: debit a random account on `from`, credit one on `to`, in one shardtx transaction. */
export function shardtxTransfer(cluster: Cluster, from: string, to: string): Promise<void> {
  const a = randomAccount()
  const b = randomAccount()
  return cluster.transaction(async (tx) => {
    await tx.forShard(from)('accounts').where({ id: a }).decrement('balance', 1)
    await tx.forShard(to)('accounts').where({ id: b }).increment('balance', 1)
  })
}

/**
 * W1 by key, for a declared sharded table whose rows move (resharding): debit a
 * random account, credit one that the ring puts on another shard, in one shardtx
 * transaction, retried as `retry` says.
 */
export function keyedTransfer(cluster: Cluster, table: string, accounts: number, retry: RetryOptions): Promise<void> {
  const a = 1 + Math.floor(Math.random() * accounts)
  let b = 1 + Math.floor(Math.random() * accounts)
  for (let tries = 0; tries < 16 && (b === a || cluster.shardFor(b) === cluster.shardFor(a)); tries++) b = 1 + Math.floor(Math.random() * accounts)
  return cluster.transaction(
    async (tx) => {
      await tx.table(table).where({ id: a }).decrement('balance', 1)
      await tx.table(table).where({ id: b }).increment('balance', 1)
    },
    { retry },
  )
}
