import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

describe('implicit propagation through AsyncLocalStorage', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['pg-1', 'my-1'], [{ id: 1, balance: 100 }])
  })
  afterAll(() => t.close())

  /** A repository function that knows nothing of the caller's transaction. */
  const credit = (shardId: string, amount: number) =>
    t.cluster.transaction((tx) => tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', amount))

  it('joins the running transaction by default', async () => {
    const before = t.cluster.stats().commits.twoPhase
    const ids = await t.cluster.transaction(async (tx) => {
      expect(t.cluster.currentTransaction()).toBe(tx)
      await credit('pg-1', 5)
      await credit('my-1', -5)
      return { outer: tx.id, shards: tx.shards }
    })
    expect(ids.shards.sort()).toEqual(['my-1', 'pg-1'])
    expect(t.cluster.stats().commits.twoPhase).toBe(before + 1)
    expect(t.cluster.currentTransaction()).toBeUndefined()
  })

  it('rolls the joined work back with the outer transaction', async () => {
    await expect(
      t.cluster.transaction(async () => {
        await credit('pg-1', 1000)
        throw new Error('outer fails')
      }),
    ).rejects.toThrow('outer fails')
    expect((await t.balances(accounts, 'pg-1')).get(1)).toBe(105)
  })

  it('starts an independent transaction when asked', async () => {
    await expect(
      t.cluster.transaction(async (outer) => {
        await t.cluster.transaction(
          async (inner) => {
            expect(inner).not.toBe(outer)
            expect(t.cluster.currentTransaction()).toBe(inner)
            await inner.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
          },
          { independent: true },
        )
        expect(t.cluster.currentTransaction()).toBe(outer)
        throw new Error('outer fails after the inner committed')
      }),
    ).rejects.toThrow('outer fails')
    expect((await t.balances(accounts, 'my-1')).get(1)).toBe(96)
  })
})

describe('outcome hooks', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
  })
  afterAll(() => t.close())

  it('run afterCommit on commit and afterRollback on rollback, never both', async () => {
    const seen: string[] = []
    await t.cluster.transaction(async (tx) => {
      tx.afterCommit(() => seen.push('commit 1'))
      tx.afterRollback(() => seen.push('rollback 1'))
      tx.afterCommit(async () => {
        throw new Error('a failing hook is logged, not thrown')
      })
      await tx.forShard('pg-0').raw('select 1')
    })
    await t.cluster
      .transaction(async (tx) => {
        tx.afterCommit(() => seen.push('commit 2'))
        tx.afterRollback(() => seen.push('rollback 2'))
        throw new Error('no')
      })
      .catch(() => {})
    expect(seen).toEqual(['commit 1', 'rollback 2'])
  })

  it('report commit latency in stats', async () => {
    await t.cluster.transaction((tx) => tx.forShard('my-0').raw('select 1'))
    const { latency } = t.cluster.stats()
    expect(latency.count).toBeGreaterThan(0)
    expect(latency.p50Ms).toBeGreaterThan(0)
  })
})

describe('propagation turned off', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { propagation: false })
  })
  afterAll(() => t.close())

  it('starts a transaction of its own for a nested call', async () => {
    await t.cluster.transaction(async (outer) => {
      expect(t.cluster.currentTransaction()).toBeUndefined()
      await t.cluster.transaction(async (inner) => {
        expect(inner).not.toBe(outer)
      })
    })
  })
})
