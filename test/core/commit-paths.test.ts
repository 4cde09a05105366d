import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAccountsCluster } from '../helpers/accounts-cluster.js'
import type { TestCluster } from '../helpers/test-cluster.js'
import { preparedOnServer } from '../support/server-activity.js'

describe.each(['pg-1', 'my-1'])('commit paths with %s written', (writer) => {
  let t: TestCluster
  let accounts: string
  const reader = writer === 'pg-1' ? 'my-0' : 'pg-1'
  const dialectOf = (shardId: string) => (shardId.startsWith('pg-') ? 'postgres' : 'mysql')
  // What the servers hold prepared for a transaction at its decision, read from them.
  let preparedAtDecision: Record<string, number> | undefined
  const readPreparedAtDecision = async (txId: string): Promise<void> => {
    const counts: Record<string, number> = {}
    for (const shardId of ['pg-1', 'my-0', 'my-1']) {
      counts[shardId] = await preparedOnServer(t.cluster.forShard(shardId), dialectOf(shardId), txId)
    }
    preparedAtDecision = counts
  }

  beforeAll(async () => {
    ;({ t, accounts } = await startAccountsCluster({
      // The hook's errors are only logged: it records, the test asserts.
      onStep: (e) => (e.step === 'decided' ? readPreparedAtDecision(e.txId) : undefined),
    }))
  })
  afterAll(() => t.close())

  it('commits one written branch in one phase, with no log record', async () => {
    const before = t.cluster.stats().commits
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard(writer)(accounts).where({ id: 1 }).increment('balance', 1)
      await tx.forShard(reader)(accounts).select()
      return tx.id
    })
    const steps = t.steps.filter((s) => s.txId === txId).map((s) => s.step)
    expect(steps).toEqual(['one-phase'])
    expect(t.cluster.stats().commits.onePhase).toBe(before.onePhase + 1)
    expect(t.cluster.stats().commits.twoPhase).toBe(before.twoPhase)
    expect((await t.logRecords()).filter((r) => r.tx_id === txId)).toEqual([])
    expect((await t.balances(accounts, writer)).get(1)).toBe(101)
  })

  it('never prepares a read-only branch of a two-phase transaction', async () => {
    const other = writer === 'pg-1' ? 'my-1' : 'pg-1'
    // A shard this transaction only reads (for my-1, `reader` is the other writer).
    const readOnly = 'my-0'
    preparedAtDecision = undefined
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard(writer)(accounts).where({ id: 1 }).increment('balance', 1)
      await tx.forShard(other)(accounts).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard(readOnly)(accounts).where({ id: 1 }).first()
      return tx.id
    })
    const prepared = t.steps.filter((s) => s.txId === txId && s.step === 'prepared').map((s) => s.shardId)
    expect(prepared.sort()).toEqual([writer, other].sort())
    expect(t.steps.some((s) => s.txId === txId && s.step === 'decided')).toBe(true)
    // The servers agree: at the decision both written branches were prepared, the read one never.
    expect(preparedAtDecision).toEqual({ [writer]: 1, [other]: 1, [readOnly]: 0 })
  })

  it('commits nothing for a read-only transaction', async () => {
    const before = t.cluster.stats().commits.readOnly
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard(writer)(accounts).select()
      await tx.forShard(reader)(accounts).select()
      return tx.id
    })
    expect(t.steps.filter((s) => s.txId === txId)).toEqual([])
    expect(t.cluster.stats().commits.readOnly).toBe(before + 1)
  })

  it('treats raw SQL as a write', async () => {
    preparedAtDecision = undefined
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard(writer).raw('select 1')
      await tx.forShard(reader).raw('select 1')
      return tx.id
    })
    expect(t.steps.filter((s) => s.txId === txId && s.step === 'decided')).toHaveLength(1)
    // Both raw branches were really prepared on their servers, as writes are.
    const untouched = ['pg-1', 'my-0', 'my-1'].find((id) => id !== writer && id !== reader)!
    expect(preparedAtDecision).toEqual({ [writer]: 1, [reader]: 1, [untouched]: 0 })
  })
})
