import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRetryable } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const ACCOUNTS = 200
const TRANSFERS = 500
const CONCURRENCY = 16

describe('500 concurrent transfers across 2 PostgreSQL and 2 MariaDB shards', () => {
  let t: TestCluster
  let accounts: string
  const shards = ['pg-0', 'pg-1', 'my-0', 'my-1']

  beforeAll(async () => {
    // Enough connections that every transaction gets its two without waiting on the pool.
    const configs = sharedShards().map((s) => ({ ...s, pool: { max: CONCURRENCY } }))
    t = await startTestCluster(configs, { log: 'pg-0', lockTimeout: 1_000 })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, shards, [])
    // Each account lives on the shard the ring gives its key.
    for (let id = 0; id < ACCOUNTS; id++) {
      await t.cluster.forShard(t.cluster.shardFor(`account:${id}`))(accounts).insert({ id, balance: 1_000 })
    }
  })
  afterAll(() => t.close())

  // Every transfer is retried until it commits, so every final balance is known in
  // advance: a transfer lost on both sides, or applied twice, shows on its accounts.
  function expectedBalances(): { balances: number[]; transfers: number } {
    const balances = Array.from({ length: ACCOUNTS }, () => 1_000)
    let transfers = 0
    for (let n = 0; n < TRANSFERS; n++) {
      const from = (n * 7) % ACCOUNTS
      const to = (n * 13 + 101) % ACCOUNTS
      if (from === to) continue
      balances[from]! -= 3
      balances[to]! += 3
      transfers++
    }
    return { balances, transfers }
  }

  it('applies every transfer exactly once, whatever aborts and retries on the way', async () => {
    let next = 0
    let committed = 0
    let retried = 0
    const worker = async (): Promise<void> => {
      while (next < TRANSFERS) {
        const n = next++
        const from = (n * 7) % ACCOUNTS
        const to = (n * 13 + 101) % ACCOUNTS
        if (from === to) continue
        for (let attempt = 0; ; attempt++) {
          try {
            await t.cluster.transaction(async (tx) => {
              await tx.forKey(`account:${from}`)(accounts).where({ id: from }).decrement('balance', 3)
              await tx.forKey(`account:${to}`)(accounts).where({ id: to }).increment('balance', 3)
            })
            committed++
            break
          } catch (error) {
            // Two transfers locking the same rows on two shards in opposite order deadlock
            // across servers, which no server sees; the lock timeout ends it.
            if (!isRetryable(error) || attempt > 50) throw error
            retried++
          }
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const expected = expectedBalances()
    const found = new Map<number, number>()
    for (const shardId of shards) for (const [id, balance] of await t.balances(accounts, shardId)) found.set(id, balance)
    expect(found).toEqual(new Map(expected.balances.map((balance, id) => [id, balance])))
    expect(committed).toBe(expected.transfers)
    expect(await t.preparedBranches()).toEqual([])
    const stats = t.cluster.stats()
    expect(stats.commits.twoPhase + stats.commits.onePhase).toBe(committed)
    expect(stats.aborts).toBe(retried)
  })
})
