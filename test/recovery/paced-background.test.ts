import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Cluster, createCluster } from '../../src/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
// Pauses a worker for a million times as long as it worked: after its first
// transaction a background worker would not come back within any test run.
const ALMOST_STILL = 1e-6
const ABANDONED = 12

/**
 * Background rounds are paced (`recovery.dutyCycle`); what must hold anyway:
 * `cluster.recover()` does not wait behind a paced round, `close()` does not
 * either, and a round stopped half-way keeps every commit record it did not
 * finish, so the branches it never reached are still committed later.
 */
describe('paced background recovery', () => {
  let t: TestCluster
  let factory: BranchFactory
  let rows: string
  let nextId = 1

  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'pg-0', recovery: false })
    factory = new BranchFactory(sharedShards(), t.prefix)
    rows = t.table('rows')
    await Promise.all(SHARDS.map((s) => t.cluster.forShard(s).schema.createTable(rows, (table) => table.integer('id').primary())))
  })
  afterAll(async () => {
    await factory?.close()
    await Promise.all(SHARDS.map((s) => t.cluster.forShard(s).schema.dropTableIfExists(rows)))
    await t.close()
  })

  /** A transaction abandoned after preparing on two shards: pg-1 and my-1. */
  async function abandon(): Promise<{ txId: string; id: number }> {
    const txId = BranchFactory.oldTxId()
    const id = nextId++
    await factory.prepare('pg-1', txId, { table: rows, row: { id } })
    await factory.prepare('my-1', txId, { table: rows, row: { id } })
    return { txId, id }
  }

  function pacedCluster(): Cluster {
    return createCluster({
      shards: sharedShards(),
      log: 'pg-0',
      prefix: t.prefix,
      logTable: t.logTable,
      recovery: { graceMs: 0, intervalMs: 60_000, dutyCycle: ALMOST_STILL },
    })
  }

  it('counts branches as they settle, and cluster.recover() finishes at full speed instead of waiting', async () => {
    const abandoned = await Promise.all(Array.from({ length: ABANDONED }, abandon))
    const background = pacedCluster()
    try {
      // Four workers each settle one transaction (two branches), then pause for good.
      await vi.waitFor(() => expect(background.stats().recovered.rolledBack).toBeGreaterThan(0), { timeout: 20_000 })
      expect((await t.preparedBranches()).length).toBeGreaterThan(0)

      const report = await background.recover()
      expect(report.failed).toEqual([])
      expect(await t.preparedBranches()).toEqual([])
      expect(background.stats().recovered.rolledBack).toBe(2 * ABANDONED)
      for (const { id } of abandoned) {
        expect(await t.cluster.forShard('pg-1')(rows).where({ id })).toEqual([])
        expect(await t.cluster.forShard('my-1')(rows).where({ id })).toEqual([])
      }
    } finally {
      await background.close()
    }
  })

  it('closes during a paced round without forgetting the commit records it did not finish', async () => {
    await Promise.all(Array.from({ length: ABANDONED }, abandon))
    // Committed transactions whose coordinator died before finishing its branches.
    const committed = await Promise.all(Array.from({ length: 4 }, abandon))
    await t.cluster.forShard('pg-0')(t.logTable).insert(
      committed.map(({ txId }) => ({ tx_id: txId, decision: 'commit', participants: 'pg-1,my-1', created_at: Date.now() })),
    )
    const background = pacedCluster()
    await vi.waitFor(() => expect(background.stats().recovered.rolledBack + background.stats().recovered.committed).toBeGreaterThan(0), {
      timeout: 20_000,
    })
    await background.close()
    // Every commit record is still there, however far the round got.
    const records = new Map((await t.logRecords()).map((r) => [r.tx_id, r.decision]))
    for (const { txId } of committed) expect(records.get(txId)).toBe('commit')

    const report = await t.cluster.recover()
    expect(report.failed).toEqual([])
    expect(await t.preparedBranches()).toEqual([])
    for (const { id } of committed) {
      expect(await t.cluster.forShard('pg-1')(rows).where({ id })).toHaveLength(1)
      expect(await t.cluster.forShard('my-1')(rows).where({ id })).toHaveLength(1)
    }
    const after = new Map((await t.logRecords()).map((r) => [r.tx_id, r.decision]))
    for (const { txId } of committed) expect(after.has(txId)).toBe(false)
  })
})
