import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admissionCapacity } from '../../src/contention/admission-capacity.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { expectNothingLeaked } from '../reliability/leak-checks.js'
import { sharedShards } from '../support/shared-cluster.js'

const TRANSACTIONS = 16

describe.each([1, 3])('pools of %i connections, transactions taking pg-0 and my-0 in opposite orders', (poolMax) => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    const shards = sharedShards().map((s) => ({ ...s, pool: { max: poolMax } }))
    // Long enough a pool wait that, without the admission gate, it is the pool deadlock that shows.
    t = await startTestCluster(shards, { log: 'pg-0', maxWait: 5_000 })
    accounts = t.table('accounts')
    const rows = Array.from({ length: TRANSACTIONS }, (_, id) => ({ id, balance: 100 }))
    await t.createAccounts(accounts, ['pg-0', 'my-0'], rows)
  })
  afterAll(() => t.close())

  it('all commit: none holds one pool while it waits for the other', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: TRANSACTIONS }, (_, id) =>
        t.cluster.transaction(async (tx) => {
          const [first, second] = id % 2 === 0 ? ['pg-0', 'my-0'] : ['my-0', 'pg-0']
          await tx.forShard(first!)(accounts).where({ id }).increment('balance', 1)
          // Holding the first connection while the others start asks for theirs.
          await new Promise((resolve) => setImmediate(resolve))
          await tx.forShard(second!)(accounts).where({ id }).increment('balance', 1)
        }),
      ),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const { admission } = t.cluster.stats()
    expect(admission.capacity).toBe(admissionCapacity([{ max: poolMax }]))
    // More transactions than the pools serve at once: the rest queued before their callback.
    expect(admission.maxQueued).toBeGreaterThan(0)
    expect(admission.timedOut).toBe(0)
    for (const shardId of ['pg-0', 'my-0']) {
      expect([...(await t.balances(accounts, shardId)).values()]).toEqual(Array(TRANSACTIONS).fill(101))
    }
    await expectNothingLeaked(t.cluster, ['pg-0', 'my-0'])
  })
})
