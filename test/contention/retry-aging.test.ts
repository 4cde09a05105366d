import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError, type Transaction } from '../../src/index.js'
import { parseTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

describe('a retried transaction', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
  })
  afterAll(() => t.close())

  it("keeps its first attempt's start time in every attempt's id, and the id's deadline never ends before the attempt's", async () => {
    const attempts: Transaction[] = []
    await t.cluster.transaction(
      async (tx) => {
        attempts.push(tx)
        // Something for the backoff to wait past, so that later attempts start later.
        await tx.forShard('pg-0').raw('select 1')
        if (attempts.length < 3) throw new ConflictError('pg-0', '40001', 'serialization failure', undefined)
      },
      { retry: { attempts: 3, backoff: 5 }, timeout: 10_000 },
    )
    expect(attempts).toHaveLength(3)
    const ids = attempts.map((tx) => parseTransactionId(tx.id)!)
    expect(new Set(attempts.map((tx) => tx.id)).size).toBe(3)
    // The age the deadlock detector ranks victims by: the first attempt's, in every attempt.
    expect(ids.map((id) => id.startedAt)).toEqual(Array(3).fill(ids[0]!.startedAt))
    // Recovery reads the coordinator's deadline out of the id: it must not be earlier than the real one.
    attempts.forEach((tx, i) => expect(ids[i]!.deadline).toBeGreaterThanOrEqual(tx.deadline))
  })
})
