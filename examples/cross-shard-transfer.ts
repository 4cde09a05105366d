/**
 * A transfer between accounts that live on different shards, one on
 * PostgreSQL and one on MariaDB, committed atomically by two-phase commit.
 * `accounts` is declared sharded by `id`, so `tx.table('accounts')` sends each
 * statement to the shard that owns the row.
 *
 * Run it: `npm run demo` (starts throwaway servers, removes them at the end).
 */
import { createCluster, isRetryable } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'

const local = await startLocalCluster({ postgres: 2, mysql: 2 })
const cluster = createCluster({
  shards: local.shards,
  log: 'pg-0',
  tables: { accounts: { shardKey: 'id' } },
})

try {
  await cluster.migrate()
  for (const shardId of cluster.shardIds) {
    await cluster.forShard(shardId).schema.createTable('accounts', (t) => {
      t.string('id').primary()
      t.integer('balance').notNullable()
    })
  }

  // For the demo, pick one account the ring places on PostgreSQL and one on MariaDB.
  const keyOn = (dialect: string, name: string): string => {
    for (let n = 0; ; n++) {
      const key = `${name}-${n}`
      if (local.shards.find((s) => s.id === cluster.shardFor(key))!.dialect === dialect) return key
    }
  }
  const alice = keyOn('postgres', 'alice')
  const bob = keyOn('mysql', 'bob')
  // One insert, two shards, one atomic transaction.
  await cluster.table('accounts').insert([
    { id: alice, balance: 100 },
    { id: bob, balance: 100 },
  ])
  console.log(`${alice} lives on ${cluster.shardFor(alice)}, ${bob} on ${cluster.shardFor(bob)}`)

  async function transfer(from: string, to: string, amount: number): Promise<void> {
    await cluster.transaction(
      async (tx) => {
        const row = await tx.table<{ id: string; balance: number }>('accounts').where({ id: from }).forUpdate().first('balance')
        if (row === undefined || row.balance < amount) throw new Error(`${from} has only ${row?.balance ?? 0}`)
        await tx.table('accounts').where({ id: from }).decrement('balance', amount)
        await tx.table('accounts').where({ id: to }).increment('balance', amount)
      },
      { timeout: 5_000, retry: { attempts: 3 } },
    )
  }

  await transfer(alice, bob, 30)
  console.log(`transferred 30 from ${alice} to ${bob}`)
  await transfer(bob, alice, 500).catch((error: Error) => {
    console.log(`refused: ${error.message} (retryable: ${isRetryable(error)}); nothing changed on any shard`)
  })

  const balances = await cluster.table<{ id: string; balance: number }>('accounts').orderBy('id')
  for (const { id, balance } of balances) console.log(`${id}: ${balance}`)
  console.log('commits by path:', cluster.stats().commits)
} finally {
  await cluster.close()
  await local.destroy()
}
