/**
 * Sharded tables: declare each table's shard key once, then write and read
 * with `tx.table(name)` and let shardtx route every statement. A transfer
 * between accounts on different shards commits atomically by two-phase commit.
 *
 * Run it: `npx tsx examples/sharded-tables.ts` (starts throwaway servers, removes them at the end).
 */
import { createCluster } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'

interface Account {
  id: number
  owner: string
  balance: number
  currency: string
}

const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
const cluster = createCluster({
  shards: local.shards,
  log: 'pg-0',
  recovery: false,
  tables: {
    accounts: { shardKey: 'id' },
    // A ledger entry lives with its account: the same key, so both land on one shard.
    ledger: { shardKey: (row) => row.account_id, keyColumns: ['account_id'] },
    currencies: { reference: true },
  },
})

try {
  await cluster.migrate()
  for (const shardId of cluster.shardIds) {
    const knex = cluster.forShard(shardId)
    await knex.schema.createTable('accounts', (t) => {
      t.integer('id').primary()
      t.string('owner', 40).notNullable()
      t.integer('balance').notNullable()
      t.string('currency', 3).notNullable()
    })
    await knex.schema.createTable('ledger', (t) => {
      t.string('entry', 64).primary()
      t.integer('account_id').notNullable()
      t.integer('amount').notNullable()
    })
    await knex.schema.createTable('currencies', (t) => {
      t.string('code', 3).primary()
      t.string('name', 40).notNullable()
    })
  }

  // Outside a transaction a write that spans shards runs in a transaction of its own.
  await cluster.table('currencies').insert([{ code: 'EUR', name: 'Euro' }, { code: 'USD', name: 'US dollar' }])
  const owners = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']
  const seed = cluster.table<Account>('accounts').insert(owners.map((owner, i) => ({ id: i + 1, owner, balance: 100, currency: 'EUR' })))
  console.log('seed accounts:', seed.explain().reason)
  await seed

  // Pick two accounts that live on different dialects, to make the transfer a real cross-shard one.
  const dialectOf = (id: number) => local.shards.find((s) => s.id === cluster.shardFor(id))!.dialect
  const from = owners.findIndex((_, i) => dialectOf(i + 1) === 'postgres') + 1
  const to = owners.findIndex((_, i) => dialectOf(i + 1) === 'mysql') + 1

  async function transfer(fromId: number, toId: number, amount: number): Promise<void> {
    await cluster.transaction(async (tx) => {
      // Only the owning shard sees each statement; the conditional decrement is the balance check.
      const debited = await tx.table<Account>('accounts').where({ id: fromId }).where('balance', '>=', amount).decrement('balance', amount)
      if (debited === 0) throw new Error(`account ${fromId} has less than ${amount}`)
      await tx.table<Account>('accounts').where({ id: toId }).increment('balance', amount)
      await tx.table('ledger').insert([
        { entry: `${tx.id}:${fromId}`, account_id: fromId, amount: -amount },
        { entry: `${tx.id}:${toId}`, account_id: toId, amount },
      ])
      console.log(`transfer ${tx.id} touched ${tx.shards.join(', ')}`)
    })
  }

  console.log(`account ${from} lives on ${cluster.shardFor(from)}, account ${to} on ${cluster.shardFor(to)}`)
  await transfer(from, to, 30)
  await transfer(from, to, 500).catch((error: Error) => console.log(`refused: ${error.message}; nothing changed on any shard`))

  // A read without the shard key fans out to every shard; order and limit apply after the merge.
  const richest = cluster.table<Account>('accounts').select('id', 'owner', 'balance').orderBy('balance', 'desc').limit(3)
  console.log('richest:', richest.explain().reason)
  console.table(await richest)
  console.table(await cluster.table('ledger').orderBy('account_id'))
  console.log('currencies, read from', cluster.table('currencies').explain().shards.join(', '), await cluster.table('currencies').orderBy('code'))

  // Refused before any shard sees it: an update without the key would lock every shard.
  await cluster
    .table<Account>('accounts')
    .where({ owner: 'alice' })
    .update({ balance: 0 })
    .catch((error: Error) => console.log(`refused: ${error.message}`))
  console.log('commits by path:', cluster.stats().commits)
} finally {
  await cluster.close()
  await local.destroy()
}
