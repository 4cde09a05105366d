import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RoutingError } from '../../src/index.js'
import { SHARDS, type ShardedFixture, startShardedFixture } from './sharded-fixture.js'

describe('filters on the shard key route reads and writes to the owning shards only', () => {
  let f: ShardedFixture
  let owned: Record<string, number[]>
  let all: number[]
  beforeAll(async () => {
    f = await startShardedFixture()
    owned = f.idsOwnedBy(2)
    all = SHARDS.flatMap((s) => owned[s]!)
  })
  afterAll(() => f.close())
  beforeEach(async () => {
    await f.clear()
    await f.cluster.table(f.accounts).insert(all.map((id) => ({ id, balance: 100, owner: `o${id % 3}` })))
  })

  /** Runs `work` in a transaction and returns the shards it opened, sorted. */
  async function touched(work: (tx: Parameters<Parameters<typeof f.cluster.transaction>[0]>[0]) => Promise<unknown>): Promise<string[]> {
    return f.cluster.transaction(async (tx) => {
      await work(tx)
      return tx.shards.sort()
    })
  }

  it('reads by where({ key }) from the owner only', async () => {
    const id = owned['pg-1']![0]!
    let rows: unknown[] = []
    expect(await touched(async (tx) => (rows = await tx.table(f.accounts).where({ id })))).toEqual(['pg-1'])
    expect(rows).toEqual([expect.objectContaining({ id, balance: 100 })])
  })

  it('reads by where(key, value), where(key, "=", value) and andWhere alike', async () => {
    const id = owned['my-0']![0]!
    for (const query of [
      (tx: any) => tx.table(f.accounts).where('id', id),
      (tx: any) => tx.table(f.accounts).where('id', '=', id),
      (tx: any) => tx.table(f.accounts).where('balance', '>', 0).andWhere({ id }),
    ]) {
      let rows: unknown[] = []
      expect(await touched(async (tx) => (rows = await query(tx)))).toEqual(['my-0'])
      expect(rows).toHaveLength(1)
    }
  })

  it('reads by whereIn(key, …) from the owners of the values only', async () => {
    const ids = [owned['pg-0']![0]!, owned['my-1']![0]!, owned['my-1']![1]!]
    let rows: Record<string, any>[] = []
    expect(await touched(async (tx) => (rows = await tx.table(f.accounts).whereIn('id', ids).orderBy('id')))).toEqual(['my-1', 'pg-0'])
    expect(rows.map((r) => r.id)).toEqual([...ids].sort((a, b) => a - b))
  })

  it('touches no shard for an empty whereIn', async () => {
    expect(await touched(async (tx) => expect(await tx.table(f.accounts).whereIn('id', [])).toEqual([]))).toEqual([])
    expect(await touched(async (tx) => expect(await tx.table(f.accounts).whereIn('id', []).del()).toBe(0))).toEqual([])
  })

  it('fans a read without the key out to every shard', async () => {
    let rows: unknown[] = []
    expect(await touched(async (tx) => (rows = await tx.table(f.accounts).where({ owner: 'o1' })))).toEqual([...SHARDS].sort())
    expect(rows).toHaveLength(all.filter((id) => id % 3 === 1).length)
    // A comparison on the key does not pin it.
    expect(f.cluster.table(f.accounts).where('id', '>', 3).explain()).toMatchObject({ route: 'fan-out', shards: [...SHARDS] })
  })

  it('updates, increments, decrements and deletes on the owning shards only', async () => {
    const [a, b] = [owned['pg-0']![0]!, owned['my-1']![0]!]
    expect(
      await touched(async (tx) => {
        expect(await tx.table(f.accounts).where({ id: a }).update({ owner: 'x' })).toBe(1)
        expect(await tx.table(f.accounts).where({ id: a }).decrement('balance', 30)).toBe(1)
        expect(await tx.table(f.accounts).where({ id: b }).increment('balance', 30)).toBe(1)
      }),
    ).toEqual(['my-1', 'pg-0'])
    const rows = await f.rowsByShard(f.accounts)
    expect(rows['pg-0']!.find((r) => r.id === a)).toMatchObject({ owner: 'x', balance: 70 })
    expect(rows['my-1']!.find((r) => r.id === b)).toMatchObject({ balance: 130 })
    expect(await touched(async (tx) => expect(await tx.table(f.accounts).whereIn('id', [a, b]).del()).toBe(2))).toEqual(['my-1', 'pg-0'])
    expect(Object.values(await f.rowsByShard(f.accounts)).flat()).toHaveLength(all.length - 2)
  })

  it('refuses a write without the key, before any shard sees it', async () => {
    expect(
      await touched(async (tx) => {
        const update = tx.table(f.accounts).where({ owner: 'o1' }).update({ balance: 0 })
        expect(() => update.explain()).toThrow(RoutingError)
        await expect(update).rejects.toMatchObject({ code: 'ALL_SHARDS_WRITE', table: f.accounts })
        await expect(tx.table(f.accounts).del()).rejects.toMatchObject({ code: 'ALL_SHARDS_WRITE' })
        await expect(tx.table(f.accounts).where('id', '<', 5).increment('balance')).rejects.toMatchObject({ code: 'ALL_SHARDS_WRITE' })
      }),
    ).toEqual([])
  })

  it('runs a write without the key on every shard when allShards is given', async () => {
    const expected = all.filter((id) => id % 3 === 1).length
    expect(
      await touched(async (tx) => {
        expect(await tx.table(f.accounts).where({ owner: 'o1' }).update({ balance: 0 }, { allShards: true })).toBe(expected)
      }),
    ).toEqual([...SHARDS].sort())
    const zeroed = Object.values(await f.rowsByShard(f.accounts)).flat().filter((r) => Number(r.balance) === 0)
    expect(zeroed.map((r) => r.id).sort()).toEqual(all.filter((id) => id % 3 === 1).sort())
  })

  it('refuses to update the shard-key column, whatever the filter', async () => {
    const id = owned['pg-0']![0]!
    await f.cluster.transaction(async (tx) => {
      await expect(tx.table(f.accounts).where({ id }).update({ id: id + 1000 })).rejects.toMatchObject({ code: 'SHARD_KEY_UPDATE' })
      // MariaDB column names ignore case, so `ID` is refused too.
      await expect(tx.table(f.accounts).where({ id }).update({ ID: 1 })).rejects.toMatchObject({ code: 'SHARD_KEY_UPDATE' })
      await expect(tx.table(f.accounts).where({ id }).increment('id', 1)).rejects.toMatchObject({ code: 'SHARD_KEY_UPDATE' })
      await expect(tx.table(f.orders).where({ tenant: 'a', id: 1 }).update({ tenant: 'b' })).rejects.toMatchObject({ code: 'SHARD_KEY_UPDATE' })
      expect(tx.shards).toEqual([])
    })
  })

  describe('composite keys', () => {
    const orders = [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ({ tenant: id % 2 === 0 ? 'acme' : 'globex', id, amount: id }))
    beforeEach(() => f.cluster.table(f.orders).insert(orders))

    it('route a filter that pins every key column', async () => {
      const owner = f.cluster.shardFor(f.orderKey('acme', 4))
      let rows: unknown[] = []
      expect(await touched(async (tx) => (rows = await tx.table(f.orders).where({ tenant: 'acme', id: 4 })))).toEqual([owner])
      expect(rows).toEqual([expect.objectContaining({ tenant: 'acme', id: 4, amount: 4 })])
    })

    it('route every combination of listed values', async () => {
      const owners = new Set(['acme', 'globex'].flatMap((t) => [1, 2].map((id) => f.cluster.shardFor(f.orderKey(t, id)))))
      const plan = f.cluster.table(f.orders).whereIn('tenant', ['acme', 'globex']).whereIn('id', [1, 2]).explain()
      expect(plan).toMatchObject({ route: 'shard-key', reason: 'the filter pins (tenant, id) to 4 combinations' })
      expect([...plan.shards].sort()).toEqual([...owners].sort())
      const rows = await f.cluster.table(f.orders).whereIn('tenant', ['acme', 'globex']).whereIn('id', [1, 2]).orderBy('id')
      expect(rows.map((r) => r.id)).toEqual([1, 2])
    })

    it('fan out when a key column is not pinned', async () => {
      let rows: unknown[] = []
      expect(await touched(async (tx) => (rows = await tx.table(f.orders).where({ tenant: 'acme' })))).toEqual([...SHARDS].sort())
      expect(rows).toHaveLength(4)
      await expect(f.cluster.table(f.orders).where({ tenant: 'acme' }).del()).rejects.toMatchObject({ code: 'ALL_SHARDS_WRITE' })
    })
  })
})
