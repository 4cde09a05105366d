import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/** knex streams PostgreSQL rows through the optional pg-query-stream package; shardtx does not depend on it. */
const hasPgQueryStream = ((): boolean => {
  try {
    createRequire(import.meta.url).resolve('pg-query-stream')
    return true
  } catch {
    return false
  }
})()

async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const rows: unknown[] = []
  for await (const row of stream) rows.push(row)
  return rows
}

describe('a knex stream on a branch', () => {
  let t: TestCluster
  let rows: string
  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'pg-0' })
    rows = t.table('accounts')
    await t.createAccounts(rows, ['pg-0', 'my-0'], [1, 2, 3].map((id) => ({ id, balance: id })))
  })
  afterAll(() => t.close())

  it('on MariaDB streams the rows inside the transaction, after and beside other statements', async () => {
    const streamed = await t.cluster.transaction(async (tx) => {
      const q = tx.forShard('my-0')
      await q(rows).where({ id: 1 }).increment('balance', 10)
      const [all] = await Promise.all([drain(q(rows).select('id', 'balance').orderBy('id').stream()), q(rows).where({ id: 2 }).first()])
      return all as { id: number; balance: number }[]
    })
    // The stream reads inside the branch: it sees the branch's own write.
    expect(streamed.map((r) => [r.id, Number(r.balance)])).toEqual([
      [1, 11],
      [2, 2],
      [3, 3],
    ])
  })

  it.skipIf(hasPgQueryStream)('on PostgreSQL without pg-query-stream fails at once with knex\'s message, not at the transaction\'s timeout', async () => {
    const outcome = await t.cluster
      .transaction((tx) => drain(tx.forShard('pg-0')(rows).select('id').stream()), { timeout: 60_000 })
      .then(() => 'streamed', (error: Error) => error.message)
    expect(outcome).toContain("requires the 'pg-query-stream' package")
  })
})
