/**
 * How to test your own code that uses shardtx: real throwaway servers from
 * `shardtx/testing`, a cluster over them, and assertions on every shard.
 * (Inside this repository the import is '../src/testing/index.js'; in your
 * project it is 'shardtx/testing'.) For a suite of many files, start the servers
 * once in a vitest globalSetup instead: see test/support/global-setup.ts.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Cluster, createCluster } from '../src/index.js'
import { type LocalCluster, startLocalCluster } from '../src/testing/index.js'

let local: LocalCluster
let cluster: Cluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
  cluster = createCluster({ shards: local.shards, recovery: false, tables: { wallets: { shardKey: 'owner' } } })
  await cluster.migrate()
  for (const id of cluster.shardIds) {
    await cluster.forShard(id).schema.createTable('wallets', (t) => {
      t.string('owner').primary()
      t.integer('coins').notNullable()
    })
  }
}, 60_000)

afterAll(async () => {
  await cluster?.close()
  await local?.destroy()
})

/** The code under test: moves coins between two wallets, wherever they live. */
async function pay(from: string, to: string, coins: number): Promise<void> {
  await cluster.transaction(async (tx) => {
    const debited = await tx.table('wallets').where({ owner: from }).where('coins', '>=', coins).decrement('coins', coins)
    if (debited === 0) throw new Error(`${from} cannot pay ${coins}`)
    await tx.table('wallets').where({ owner: to }).increment('coins', coins)
  })
}

it('moves coins atomically, or not at all', async () => {
  await cluster.table('wallets').insert([
    { owner: 'ann', coins: 10 },
    { owner: 'ben', coins: 0 },
  ])
  await pay('ann', 'ben', 4)
  await expect(pay('ben', 'ann', 50)).rejects.toThrow('cannot pay')
  const wallets = await cluster.table<{ owner: string; coins: number }>('wallets').orderBy('owner')
  expect(wallets).toEqual([
    { owner: 'ann', coins: 6 },
    { owner: 'ben', coins: 4 },
  ])
})
