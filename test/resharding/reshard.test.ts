import { afterEach, describe, expect, test } from 'vitest'
import { StaleTopologyError } from '../../src/index.js'
import { sharedShards } from '../support/shared-cluster.js'
import { type ReshardBank, startReshardBank } from './reshard-fixture.js'

const banks: ReshardBank[] = []
afterEach(async () => {
  await Promise.all(banks.splice(0).map((b) => b.close()))
})

async function transfers(bank: ReshardBank, count: number, accounts: number): Promise<number> {
  let committed = 0
  for (let i = 0; i < count; i++) {
    const from = (i * 7) % accounts
    const to = (i * 13 + 5) % accounts
    if (from === to) continue
    await bank.cluster.transaction(
      async (tx) => {
        await tx.table(bank.accounts).where({ id: from }).decrement('balance', 1)
        await tx.table(bank.accounts).where({ id: to }).increment('balance', 1)
      },
      { retry: { attempts: 50 } },
    )
    committed++
  }
  return committed
}

describe('resharding', () => {
  test('adding a shard of the other dialect moves every row to its owner while transfers run, conserving the total', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const every = [pg[0]!, my[0]!, my[1]!]
    const bank = await startReshardBank(routed, every, 300)
    banks.push(bank)
    const plan = await bank.cluster.reshardPlan([...routed.map((s) => ({ id: s.id })), { id: my[1]!.id }], { batchSize: 40 })
    expect(plan.problems).toEqual([])
    expect(plan.added).toEqual([my[1]!.id])
    const planned = plan.rows.reduce((sum, r) => sum + r.rows, 0)
    expect(planned).toBeGreaterThan(0)
    expect(plan.batches.length).toBeGreaterThan(1)
    // The dry run wrote nothing: no job, no rows on the new shard.
    expect(await bank.cluster.reshardStatus()).toBeUndefined()
    expect((await bank.allAccounts()).filter((a) => a.shardId === my[1]!.id)).toEqual([])

    const stale = bank.sibling(every, { topology: 'follow' })
    await stale.transaction(async () => {}) // loads the topology before the job

    const running = transfers(bank, 120, 300)
    const progress: number[] = []
    const result = await bank.cluster.reshard([...routed.map((s) => ({ id: s.id })), { id: my[1]!.id }], {
      batchSize: 40,
      onProgress: (p) => progress.push(p.done),
    })
    expect(await running).toBeGreaterThan(100)
    expect(result.state).toBe('done')
    expect(result.done).toBe(result.total)
    expect(progress.at(-1)).toBe(result.total)

    const all = await bank.allAccounts()
    expect(all).toHaveLength(300)
    expect(new Set(all.map((a) => a.id)).size).toBe(300)
    expect(all.reduce((sum, a) => sum + a.balance, 0)).toBe(300 * 100)
    for (const a of all) expect(a.shardId).toBe(bank.cluster.shardFor(a.id))
    expect(all.filter((a) => a.shardId === my[1]!.id).length).toBeGreaterThan(0)
    const report = await bank.cluster.verifyPlacement()
    expect(report.misplaced).toEqual([])
    expect(report.tables[0]!.rows).toBe(300)
    // The reference table reached the added shard before it took any slot.
    expect(await bank.cluster.forShard(my[1]!.id)(bank.currencies).orderBy('code').pluck('code')).toEqual(['EUR', 'USD'])

    // The process that routed by the epoch before the job is refused, then reloads and writes to the new owner.
    const moved = all.find((a) => a.shardId === my[1]!.id)!
    await expect(stale.transaction((tx) => tx.forKey(moved.id)(bank.accounts).where({ id: moved.id }).increment('balance', 0))).rejects.toBeInstanceOf(
      StaleTopologyError,
    )
    await stale.transaction((tx) => tx.table(bank.accounts).where({ id: moved.id }).increment('balance', 1), { retry: { attempts: 5 } })
    expect((await bank.cluster.forShard(my[1]!.id)(bank.accounts).where({ id: moved.id }).first()).balance).toBe(moved.balance + 1)
  })

  test('cancel stops at a batch boundary; reverse moves the done batches back and restores the checksum', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, pg[1]!, my[0]!]
    const every = routed
    const bank = await startReshardBank(routed, every, 200)
    banks.push(bank)
    const before = await bank.cluster.verifyPlacement()
    const target = [{ id: pg[0]!.id }, { id: my[0]!.id }] // removes pg-1
    const partial = await bank.cluster.reshard(target, { batchSize: 20, maxBatches: 2 })
    expect(partial.state).toBe('running')
    expect(partial.done).toBe(2)
    const cancelled = await bank.cluster.cancelReshard()
    expect(cancelled.state).toBe('cancelled')
    const midway = await bank.cluster.verifyPlacement()
    expect(midway.misplaced).toEqual([])
    expect(midway.tables).toEqual(before.tables)
    const reversed = await bank.cluster.reverseReshard({ batchSize: 20 })
    expect(reversed.state).toBe('reversed')
    expect(reversed.done).toBe(0)
    const after = await bank.cluster.verifyPlacement()
    expect(after.misplaced).toEqual([])
    expect(after.tables).toEqual(before.tables)
    expect((await bank.cluster.topology()).shards.map((s) => s.id)).toEqual(routed.map((s) => s.id).sort())
  })
})
