import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdmissionTimeoutError, ConflictError, isRetryable } from '../../src/index.js'
import { startAccountsCluster } from '../helpers/accounts-cluster.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'
import { expectNothingLeaked, poolUsage } from './leak-checks.js'

const MAX_WAIT_MS = 500
/** Longer than maxWait: while the admitted transaction holds on, the queue does not move. */
const HOLD_MS = 800

describe('more transactions than pooled connections', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    const shards = sharedShards().map((s) => ({ ...s, pool: { max: 2 } }))
    t = await startTestCluster(shards, { log: 'pg-0', maxWait: MAX_WAIT_MS })
    accounts = t.table('accounts')
    const rows = Array.from({ length: 20 }, (_, id) => ({ id, balance: 100 }))
    await t.createAccounts(accounts, ['pg-0', 'pg-1', 'my-0', 'my-1'], rows)
  })
  afterAll(() => t.close())

  it('queue for admission, and fail with a typed, retryable AdmissionTimeoutError when nothing finishes within maxWait; the rest commit', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, id) =>
        t.cluster.transaction(async (tx) => {
          await tx.forShard('pg-1')(accounts).where({ id }).increment('balance', 1)
          await tx.forShard('my-1')(accounts).where({ id }).increment('balance', 1)
          // Holding both connections keeps the queue behind them waiting.
          await new Promise((resolve) => setTimeout(resolve, HOLD_MS))
        }),
      ),
    )
    const committed = results.filter((r) => r.status === 'fulfilled').length
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error)
    // Pools of 2 keep one connection for recovery and the like: one transaction at a time.
    expect(t.cluster.stats().admission.capacity).toBe(1)
    expect(committed).toBeGreaterThanOrEqual(1)
    expect(errors.length).toBeGreaterThan(0)
    for (const error of errors) {
      // Queued before their callback started, they never held a connection.
      expect(error).toBeInstanceOf(AdmissionTimeoutError)
      expect(isRetryable(error)).toBe(true)
      expect(error.message).toMatch(/no running transaction finished within maxWait \(500 ms\)/)
    }
    expect(t.cluster.stats().admission.timedOut).toBe(errors.length)
    // Each committed transaction moved both of its rows; each failed one moved none.
    const pg = await t.balances(accounts, 'pg-1')
    const my = await t.balances(accounts, 'my-1')
    results.forEach((r, id) => {
      const expected = r.status === 'fulfilled' ? 101 : 100
      expect([pg.get(id), my.get(id)]).toEqual([expected, expected])
    })
    await expectNothingLeaked(t.cluster)
  })

  it('do not deadlock in the pools when they take two shards in opposite orders: all commit', async () => {
    // Two take pg-0 then my-0, two my-0 then pg-0, and each waits until every transaction
    // running holds its first connection. Were all four running at once, both pools
    // (2 connections each) would be full of transactions waiting for the other pool: a
    // pool deadlock, every time. The admission gate runs no more than the pools serve, so
    // the barrier opens with those running, and every one of them commits.
    const TAKERS = 4
    const running = Math.min(TAKERS, t.cluster.stats().admission.capacity)
    let holding = 0
    let allHolding!: () => void
    const everyoneHolds = new Promise<void>((resolve) => (allHolding = resolve))
    const results = await Promise.allSettled(
      Array.from({ length: TAKERS }, (_, id) =>
        t.cluster.transaction(async (tx) => {
          const [first, second] = id % 2 === 0 ? ['pg-0', 'my-0'] : ['my-0', 'pg-0']
          await tx.forShard(first!)(accounts).where({ id }).increment('balance', 1)
          if (++holding === running) allHolding()
          await everyoneHolds
          await tx.forShard(second!)(accounts).where({ id }).increment('balance', 1)
        }),
      ),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const pg = await t.balances(accounts, 'pg-0')
    const my = await t.balances(accounts, 'my-0')
    for (let id = 0; id < TAKERS; id++) expect([pg.get(id), my.get(id)]).toEqual([101, 101])
    await expectNothingLeaked(t.cluster)
  })

  it('serve the queue once the load is gone', async () => {
    for (let i = 0; i < 3; i++) {
      await t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 19 }).increment('balance', 1)
        await tx.forShard('my-1')(accounts).where({ id: 19 }).decrement('balance', 1)
      })
    }
    for (const shardId of t.cluster.shardIds) expect(poolUsage(t.cluster, shardId).pending).toBe(0)
    await expectNothingLeaked(t.cluster)
  })
})

describe('two transactions locking the same rows on two shards in opposite orders', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    // Without distributed deadlock detection (test/contention covers it), as with a shard
    // user that lacks the privileges: the servers cannot see the cycle; the lock timeout ends it.
    ;({ t, accounts } = await startAccountsCluster({ deadlockTimeout: false }))
  })
  afterAll(() => t.close())

  // The servers cannot see a deadlock that spans two of them; the lock timeout ends it.
  // The impatient one (short lockTimeout) gives up; the patient one then gets the lock.
  it.each([
    ['pg-0', 'pg-1'],
    ['my-0', 'my-1'],
    ['pg-1', 'my-1'],
    ['my-0', 'pg-1'],
  ])('%s / %s: the one with the short lockTimeout fails with a retryable lock-timeout conflict, the other commits', async (x, y) => {
    const SHORT_MS = 500
    const LONG_MS = 10_000
    let bothLocked!: () => void
    let lockedCount = 0
    const locked = new Promise<void>((resolve) => (bothLocked = resolve))
    const lockedOne = async (): Promise<void> => {
      if (++lockedCount === 2) bothLocked()
      await locked
    }
    const patient = t.cluster.transaction(
      async (tx) => {
        await tx.forShard(x)(accounts).where({ id: 1 }).increment('balance', 1)
        await lockedOne()
        await tx.forShard(y)(accounts).where({ id: 1 }).increment('balance', 1)
      },
      { lockTimeout: LONG_MS },
    )
    const impatient = t.cluster
      .transaction(
        async (tx) => {
          await tx.forShard(y)(accounts).where({ id: 1 }).decrement('balance', 1)
          await lockedOne()
          await tx.forShard(x)(accounts).where({ id: 1 }).decrement('balance', 1)
        },
        { lockTimeout: SHORT_MS },
      )
      .catch((e: unknown) => e)
    const error = await impatient
    await patient
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).message).toMatch(/lock timeout|deadlock/)
    expect(isRetryable(error)).toBe(true)
    expect((error as ConflictError).shardId).toBe(x)
    // The lock-timeout code, not a deadlock's: no server saw the cycle, the short lockTimeout ended it
    // (and only the impatient one's: the patient one, with the long one, went on and committed).
    expect((error as ConflictError).serverCode).toBe(x.startsWith('pg') ? '55P03' : '1205')
    expect((await t.balances(accounts, x)).get(1)).toBe(101)
    expect((await t.balances(accounts, y)).get(1)).toBe(101)
    await t.cluster.transaction(async (tx) => {
      await tx.forShard(x)(accounts).where({ id: 1 }).update({ balance: 100 })
      await tx.forShard(y)(accounts).where({ id: 1 }).update({ balance: 100 })
    })
    await expectNothingLeaked(t.cluster)
  })

  it('a retry option turns that conflict into a commit for both', async () => {
    let bothLocked!: () => void
    let lockedCount = 0
    const locked = new Promise<void>((resolve) => (bothLocked = resolve))
    const lockedOnce = async (): Promise<void> => {
      if (++lockedCount === 2) bothLocked()
      await locked
    }
    await Promise.all([
      t.cluster.transaction(
        async (tx) => {
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await lockedOnce()
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
        },
        { lockTimeout: 10_000 },
      ),
      t.cluster.transaction(
        async (tx) => {
          await tx.forShard('my-0')(accounts).where({ id: 1 }).decrement('balance', 1)
          await lockedOnce()
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).decrement('balance', 1)
        },
        { lockTimeout: 500, retry: { attempts: 5, backoff: 50 } },
      ),
    ])
    expect((await t.balances(accounts, 'pg-0')).get(1)).toBe(100)
    expect((await t.balances(accounts, 'my-0')).get(1)).toBe(100)
    await expectNothingLeaked(t.cluster)
  })
})
