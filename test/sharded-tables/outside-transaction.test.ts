import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SHARDS, type ShardedFixture, startShardedFixture } from './sharded-fixture.js'

describe('cluster.table() outside a transaction', () => {
  let f: ShardedFixture
  let owned: Record<string, number[]>
  beforeAll(async () => {
    f = await startShardedFixture()
    owned = f.idsOwnedBy(1)
  })
  afterAll(() => f.close())
  beforeEach(() => f.clear())

  it('runs a write to one shard in a one-phase transaction of its own (fenced, like every branch)', async () => {
    const before = f.cluster.stats().commits
    const id = owned['my-0']![0]!
    expect(await f.cluster.table(f.accounts).insert({ id, balance: 1 })).toBe(1)
    expect(await f.cluster.table(f.accounts).where({ id }).increment('balance', 2)).toBe(1)
    expect(f.cluster.stats().commits).toEqual({ ...before, onePhase: before.onePhase + 2 })
    expect((await f.rowsByShard(f.accounts))['my-0']).toEqual([expect.objectContaining({ id, balance: 3 })])
  })

  it('runs a write to several shards in a two-phase transaction of its own', async () => {
    const before = f.cluster.stats().commits.twoPhase
    const ids = SHARDS.map((s) => owned[s]![0]!)
    await f.cluster.table(f.accounts).insert(ids.map((id) => ({ id, balance: 1 })))
    await f.cluster.table(f.accounts).whereIn('id', ids).update({ balance: 5 })
    expect(f.cluster.stats().commits.twoPhase).toBe(before + 2)
    expect(Object.values(await f.rowsByShard(f.accounts)).flat().map((r) => Number(r.balance))).toEqual([5, 5, 5, 5])
  })

  it('joins the transaction of the cluster.transaction callback it runs in', async () => {
    const [a, b] = [owned['pg-1']![0]!, owned['my-1']![0]!]
    await expect(
      f.cluster.transaction(async (tx) => {
        await f.cluster.table(f.accounts).insert([{ id: a, balance: 1 }, { id: b, balance: 1 }])
        expect(tx.shards.sort()).toEqual(['my-1', 'pg-1'])
        // Its reads see the transaction's own writes.
        expect(await f.cluster.table(f.accounts).whereIn('id', [a, b])).toHaveLength(2)
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    expect(Object.values(await f.rowsByShard(f.accounts)).flat()).toEqual([])
  })
})
