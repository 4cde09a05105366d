import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError, InvalidKeyError, RoutingError } from '../../src/index.js'
import { duplicateKeyFrom, rejectionOf } from '../support/server-errors.js'
import { SHARDS, type ShardedFixture, startShardedFixture } from './sharded-fixture.js'

describe('inserts route each row to the shard owning its key', () => {
  let f: ShardedFixture
  let owned: Record<string, number[]>
  beforeAll(async () => {
    f = await startShardedFixture()
    owned = f.idsOwnedBy(2)
  })
  afterAll(() => f.close())
  beforeEach(() => f.clear())

  it('sends a one-row insert to its owner only', async () => {
    const id = owned['my-1']![0]!
    const touched = await f.cluster.transaction(async (tx) => {
      expect(await tx.table(f.accounts).insert({ id, balance: 5 })).toBe(1)
      return tx.shards
    })
    expect(touched).toEqual(['my-1'])
    const rows = await f.rowsByShard(f.accounts)
    expect(rows['my-1']).toEqual([expect.objectContaining({ id, balance: 5 })])
    expect(Object.values(rows).flat()).toHaveLength(1)
  })

  it('splits a multi-row insert into one insert per owning shard, in one two-phase transaction', async () => {
    const ids = SHARDS.flatMap((s) => owned[s]!)
    const txId = await f.cluster.transaction(async (tx) => {
      const insert = tx.table(f.accounts).insert(ids.map((id) => ({ id, balance: id })))
      expect(insert.explain()).toMatchObject({ route: 'row-keys', shards: [...SHARDS] })
      expect(insert.explain().reason).toContain(`${owned['pg-0']!.length} to pg-0`)
      expect(await insert).toBe(ids.length)
      expect(tx.shards.sort()).toEqual([...SHARDS].sort())
      return tx.id
    })
    const rows = await f.rowsByShard(f.accounts)
    for (const shardId of SHARDS) expect(rows[shardId]!.map((r) => r.id)).toEqual(owned[shardId])
    expect(f.t.steps.filter((s) => s.txId === txId && s.step === 'prepared').length).toBeGreaterThanOrEqual(3)
  })

  it('routes 42, 42n and "42" alike, as the ring does', async () => {
    const plans = [42, 42n, '42'].map((id) => f.cluster.table(f.accounts).insert({ id: id as number, balance: 0 }).explain().shards)
    expect(plans).toEqual([[f.cluster.shardFor(42)], [f.cluster.shardFor(42)], [f.cluster.shardFor(42)]])
  })

  it('routes a composite key through its function, given only the key columns', async () => {
    const rows = [1, 2, 3, 4, 5, 6].map((id) => ({ tenant: id % 2 === 0 ? 'acme' : 'globex', id, amount: id * 10 }))
    await f.cluster.transaction((tx) => tx.table(f.orders).insert(rows))
    const byShard = await f.rowsByShard(f.orders)
    for (const row of rows) {
      const owner = f.cluster.shardFor(f.orderKey(row.tenant, row.id))
      expect(byShard[owner]).toContainEqual(expect.objectContaining({ tenant: row.tenant, id: row.id }))
    }
    expect(Object.values(byShard).flat()).toHaveLength(rows.length)
  })

  it('refuses a row without its shard key before touching any shard', async () => {
    await f.cluster.transaction(async (tx) => {
      const insert = tx.table(f.accounts).insert([{ id: 1, balance: 0 }, { balance: 0 }])
      expect(() => insert.explain()).toThrow(RoutingError)
      await expect(insert).rejects.toMatchObject({ code: 'MISSING_SHARD_KEY', table: f.accounts })
      await expect(tx.table(f.orders).insert({ tenant: 'acme', amount: 1 })).rejects.toMatchObject({ code: 'MISSING_SHARD_KEY' })
      await expect(tx.table(f.accounts).insert({ id: 1.5, balance: 0 })).rejects.toBeInstanceOf(InvalidKeyError)
      expect(tx.shards).toEqual([])
    })
  })

  it('refuses an undeclared table', async () => {
    await f.cluster.transaction((tx) => {
      expect(() => tx.table('nope')).toThrow(ConfigError)
    })
    expect(() => f.cluster.table('nope')).toThrow(/not declared/)
  })

  describe.each(['my-1', 'pg-1'])('atomicity: one failing row on %s inserts nothing anywhere', (failing) => {
    // A row already on the failing shard makes its part of the insert fail with a duplicate key.
    const spanning = () => SHARDS.map((s) => ({ id: owned[s]![0]!, balance: 1 }))
    const preexisting = () => ({ id: owned[failing]![1]!, balance: 99 })
    const withDuplicate = () => [...spanning(), { ...preexisting(), balance: 1 }]
    // The failing shard's own server refused the row: a routing bug that throws before
    // anything is sent would change no row either, and must not pass for atomicity.
    const failingDialect = failing.startsWith('pg-') ? 'postgres' : 'mysql'

    beforeEach(async () => {
      await f.cluster.forShard(failing)(f.accounts).insert(preexisting())
    })

    async function expectOnlyThePreexistingRow(): Promise<void> {
      const rows = await f.rowsByShard(f.accounts)
      expect(Object.values(rows).flat()).toEqual([expect.objectContaining(preexisting())])
    }

    it('when the error ends the transaction', async () => {
      expect(duplicateKeyFrom(await rejectionOf(f.cluster.transaction((tx) => tx.table(f.accounts).insert(withDuplicate()))))).toBe(failingDialect)
      await expectOnlyThePreexistingRow()
    })

    it('when the caller catches the error and commits other work', async () => {
      const other = owned[failing === 'pg-1' ? 'my-1' : 'pg-1']![1]!
      await f.cluster.transaction(async (tx) => {
        expect(duplicateKeyFrom(await rejectionOf(tx.table(f.accounts).insert(withDuplicate())))).toBe(failingDialect)
        // The transaction goes on, on PostgreSQL branches too: the failed statement was rolled back to its savepoint.
        await tx.table(f.accounts).insert({ id: other, balance: 7 })
      })
      const rows = await f.rowsByShard(f.accounts)
      expect(Object.values(rows).flat().map((r) => r.id).sort()).toEqual([preexisting().id, other].sort())
    })

    it('outside a transaction (it runs in one of its own)', async () => {
      expect(duplicateKeyFrom(await rejectionOf(f.cluster.table(f.accounts).insert(withDuplicate())))).toBe(failingDialect)
      await expectOnlyThePreexistingRow()
    })
  })
})
