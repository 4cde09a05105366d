import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

describe.each(['pg-0', 'my-0'])('opt-in retry on %s', (shardId) => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
    accounts = t.table('accounts')
    await t.createAccounts(accounts, [shardId], [{ id: 1, balance: 0 }])
  })
  afterAll(() => t.close())

  /** Holds a row lock in another transaction for the first `ms` of a test. */
  async function holdLock(ms: number): Promise<{ holder: Promise<void> }> {
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holder = t.cluster.transaction(async (tx) => {
      await tx.forShard(shardId)(accounts).where({ id: 1 }).forUpdate().select()
      locked()
      await new Promise((resolve) => setTimeout(resolve, ms))
    })
    await isLocked
    // Wrapped: an async function returning the promise itself would wait for it.
    return { holder }
  }

  it('re-runs the callback after a lock timeout, then commits', async () => {
    const { holder } = await holdLock(1_500)
    let runs = 0
    await t.cluster.transaction(
      async (tx) => {
        runs++
        await tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', 1)
      },
      { lockTimeout: 300, retry: { attempts: 20, backoff: 200 } },
    )
    await holder
    expect(runs).toBeGreaterThan(1)
    expect((await t.balances(accounts, shardId)).get(1)).toBe(1)
  })

  it('gives up after its attempts with the conflict', async () => {
    const { holder } = await holdLock(3_000)
    let runs = 0
    const error = await t.cluster
      .transaction(
        async (tx) => {
          runs++
          await tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', 1)
        },
        { lockTimeout: 200, retry: { attempts: 2, backoff: 0 } },
      )
      .catch((e: unknown) => e)
    await holder
    expect(error).toBeInstanceOf(ConflictError)
    expect(runs).toBe(2)
  })

  it('never re-runs on other errors', async () => {
    let runs = 0
    await expect(
      t.cluster.transaction(
        async () => {
          runs++
          throw new Error('not a conflict')
        },
        { retry: { attempts: 5 } },
      ),
    ).rejects.toThrow('not a conflict')
    expect(runs).toBe(1)
  })
})
