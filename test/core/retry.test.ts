import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, ConflictError, createCluster, TransactionAbortedError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

describe.each(['pg-0', 'my-0'])('opt-in retry on %s', (shardId) => {
  let t: TestCluster
  let accounts: string
  /** The lock holder runs in a cluster of its own: in the tested one it would take an admission slot. */
  let holding: Cluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
    accounts = t.table('accounts')
    await t.createAccounts(accounts, [shardId], [{ id: 1, balance: 0 }])
    holding = createCluster({ shards: sharedShards(), prefix: t.prefix, logTable: t.logTable, recovery: false })
  })
  afterAll(async () => {
    await holding?.close()
    await t.close()
  })

  /**
   * Holds a row lock in another transaction until `release` is called: the test
   * says when the lock may go (after a conflict was seen), never a timer, since
   * MariaDB rounds a lock timeout up to whole seconds and a loaded machine is slow.
   * Held from another cluster: each conflict lowers the tested cluster's admission
   * limit, and how many a loaded machine makes varies; at a limit of 1 a retry would
   * queue behind a holder that waits for that retry to fail.
   */
  async function holdLock(): Promise<{ holder: Promise<void>; release: () => void }> {
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const holder = holding.transaction(async (tx) => {
      await tx.forShard(shardId)(accounts).where({ id: 1 }).forUpdate().select()
      locked()
      await released
    })
    await isLocked
    // Wrapped: an async function returning the promise itself would wait for it.
    return { holder, release }
  }

  it('re-runs the callback after a lock timeout, then commits', async () => {
    const { holder, release } = await holdLock()
    let runs = 0
    await t.cluster.transaction(
      async (tx) => {
        // A second run means the first one met the lock and timed out: let it go.
        if (++runs === 2) release()
        await tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', 1)
      },
      { lockTimeout: 300, retry: { attempts: 20, backoff: 200 } },
    )
    await holder
    expect(runs).toBeGreaterThan(1)
    expect((await t.balances(accounts, shardId)).get(1)).toBe(1)
  })

  it('gives up after its attempts with the conflict', async () => {
    const { holder, release } = await holdLock()
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
    release()
    await holder
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).serverCode).toBe(shardId.startsWith('pg-') ? '55P03' : '1205')
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

  it('settles as soon as its signal aborts during a backoff, without waiting the backoff out', async () => {
    const controller = new AbortController()
    let runs = 0
    const outcome = await t.cluster
      .transaction(
        async () => {
          runs++
          throw new ConflictError(shardId, '40001', 'serialization failure', undefined)
        },
        {
          // The first attempt has failed when the backoff is asked for: the signal aborts then, and a
          // call that waited the ten minutes out would fail the test on its timeout.
          retry: { attempts: 3, backoff: () => (controller.abort(), 600_000) },
          signal: controller.signal,
        },
      )
      .then(() => 'committed', (error: unknown) => error)
    expect(outcome).toBeInstanceOf(TransactionAbortedError)
    expect((outcome as Error).message).toContain('signal')
    expect(runs).toBe(1)
  })

  it('settles as soon as close() begins during a backoff', async () => {
    const closing = createCluster({ shards: sharedShards(), prefix: t.prefix, logTable: t.logTable, recovery: false })
    let closed: Promise<void> | undefined
    const outcome = await closing
      .transaction(
        async () => {
          throw new ConflictError(shardId, '40001', 'serialization failure', undefined)
        },
        { retry: { attempts: 3, backoff: () => ((closed = closing.close()), 600_000) } },
      )
      .then(() => 'committed', (error: unknown) => error)
    await closed
    expect((outcome as Error).name).toBe('ClosedError')
  })
})
