/**
 * How to test what your own code does when a shard's network breaks: start the
 * servers with `faults: true`, then `partition` and `heal` a shard around the
 * code under test. (Inside this repository the imports are '../src/…'; in your
 * project they are 'shardtx' and 'shardtx/testing'.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Cluster, createCluster, ShardUnavailableError } from '../src/index.js'
import { type LocalCluster, startLocalCluster } from '../src/testing/index.js'

let local: LocalCluster
let cluster: Cluster
let ann = ''
let ben = ''

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
  cluster = createCluster({
    shards: local.shards,
    recovery: false,
    connectTimeout: 2_000,
    tables: { wallets: { shardKey: 'owner' } },
  })
  await cluster.migrate()
  for (const id of cluster.shardIds) {
    await cluster.forShard(id).schema.createTable('wallets', (t) => {
      t.string('owner').primary()
      t.integer('coins').notNullable()
    })
  }
  // Two owners on two different shards, so that a payment spans both.
  const owners = Array.from({ length: 64 }, (_, i) => `owner-${i}`)
  ann = owners.find((owner) => cluster.shardFor(owner) === 'pg-0')!
  ben = owners.find((owner) => cluster.shardFor(owner) === 'my-0')!
  await cluster.table('wallets').insert([
    { owner: ann, coins: 10 },
    { owner: ben, coins: 0 },
  ])
}, 60_000)

afterAll(async () => {
  await cluster?.close()
  await local?.destroy()
})

/** The code under test. */
async function pay(from: string, to: string, coins: number): Promise<void> {
  await cluster.transaction(async (tx) => {
    await tx.table('wallets').where({ owner: from }).decrement('coins', coins)
    await tx.table('wallets').where({ owner: to }).increment('coins', coins)
  })
}

async function balances(): Promise<number[]> {
  const rows = await cluster.table<{ owner: string; coins: number }>('wallets').whereIn('owner', [ann, ben])
  return [ann, ben].map((owner) => rows.find((row) => row.owner === owner)!.coins)
}

it('a payment fails cleanly while a shard is cut off, and works again once it heals', async () => {
  await local.partition('my-0', { mode: 'reset' })
  try {
    await expect(pay(ann, ben, 4)).rejects.toBeInstanceOf(ShardUnavailableError)
  } finally {
    await local.heal('my-0')
  }
  expect(await balances()).toEqual([10, 0])
  await pay(ann, ben, 4)
  expect(await balances()).toEqual([6, 4])
})
