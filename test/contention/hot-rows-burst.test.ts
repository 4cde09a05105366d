import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, ConflictError, createCluster, type RetryOptions } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
/** Rows `a` and `b` of every shard: 8 hot rows in all. */
const ROWS = [1, 2]
const TRANSFERS = 300
const BALANCE = 1_000

/** Every ordered pair of distinct shards, so that transfers cross in both directions. */
const PAIRS = SHARDS.flatMap((x) => SHARDS.filter((y) => y !== x).map((y) => [x, y] as const))

describe('a burst of 300 transfers on 8 hot rows over 2 PostgreSQL and 2 MariaDB shards, default settings', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'pg-0' })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, SHARDS, ROWS.map((id) => ({ id, balance: BALANCE })))
  })
  afterAll(() => t.close())

  /**
   * Starts every transfer at once; each debits a row on shard x and credits one on
   * shard y. Transfer n runs on `clusters[n % clusters.length]`.
   */
  function burst(retry: RetryOptions | undefined, clusters: Cluster[] = [t.cluster]): Promise<PromiseSettledResult<void>[]> {
    return Promise.allSettled(
      Array.from({ length: TRANSFERS }, (_, n) => {
        const [x, y] = PAIRS[n % PAIRS.length]!
        const from = ROWS[n % 2]!
        const to = ROWS[Math.floor(n / PAIRS.length) % 2]!
        return clusters[n % clusters.length]!.transaction(
          async (tx) => {
            await tx.forShard(x)(accounts).where({ id: from }).decrement('balance', 1)
            await tx.forShard(y)(accounts).where({ id: to }).increment('balance', 1)
          },
          retry === undefined ? {} : { retry },
        )
      }),
    )
  }

  async function expectConservedAndNothingPrepared(): Promise<void> {
    let total = 0
    for (const shardId of SHARDS) for (const balance of (await t.balances(accounts, shardId)).values()) total += balance
    expect(total).toBe(SHARDS.length * ROWS.length * BALANCE)
    expect(await t.preparedBranches()).toEqual([])
  }

  it('with retry: { attempts: 10 }, at least 99% commit, the total is conserved, nothing is left prepared', async () => {
    const results = await burst({ attempts: 10 })
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error)
    const firstFailures = failures.slice(0, 3).map((e) => `${e.name}: ${e.message}`).join('\n')
    expect(TRANSFERS - failures.length, firstFailures).toBeGreaterThanOrEqual(TRANSFERS * 0.99)
    await expectConservedAndNothingPrepared()
    const { admission, deadlocks } = t.cluster.stats()
    // More transfers than the gate admits at once: the rest queued instead of holding connections.
    expect(admission.maxQueued).toBeGreaterThan(0)
    expect(admission.timedOut).toBe(0)
    expect(deadlocks.enabled).toBe(true)
  })

  it('split over 4 processes, with retry: { attempts: 10 }, at least 99% commit: the processes take turns through the lane', async () => {
    // Each cluster has pools, gate and detector of its own: it stands for another process. Each
    // process's own limit cannot keep them from deadlocking with each other; the lane does.
    const others = Array.from({ length: 3 }, () => createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false }))
    try {
      const clusters = [t.cluster, ...others]
      const heldBefore = t.cluster.stats().admission.lane.held
      const results = await burst({ attempts: 10 }, clusters)
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error)
      const firstFailures = failures.slice(0, 3).map((e) => `${e.name}: ${e.message}`).join('\n')
      expect(TRANSFERS - failures.length, firstFailures).toBeGreaterThanOrEqual(TRANSFERS * 0.99)
      await expectConservedAndNothingPrepared()
      const lane = clusters.map((c, i) => c.stats().admission.lane.held - (i === 0 ? heldBefore : 0))
      expect(lane.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
    } finally {
      await Promise.all(others.map((c) => c.close()))
    }
  })

  it('without retry, no transfer fails on a pool wait, an admission wait or a timeout: only with ConflictError', async () => {
    const results = await burst(undefined)
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError)
    }
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true)
    await expectConservedAndNothingPrepared()
  })
})
