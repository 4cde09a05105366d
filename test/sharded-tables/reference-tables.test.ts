import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { duplicateKeyFrom, rejectionOf } from '../support/server-errors.js'
import { SHARDS, type ShardedFixture, startShardedFixture } from './sharded-fixture.js'

describe('reference tables: written on every shard atomically, read from the log shard', () => {
  let f: ShardedFixture
  beforeAll(async () => {
    f = await startShardedFixture()
  })
  afterAll(() => f.close())
  beforeEach(() => f.clear())

  const codesByShard = async () =>
    Object.fromEntries(Object.entries(await f.rowsByShard(f.currencies)).map(([shardId, rows]) => [shardId, rows.map((r) => r.code)]))
  const everywhere = (codes: string[]) => Object.fromEntries(SHARDS.map((s) => [s, codes]))

  it('inserts every row on every shard in one two-phase transaction', async () => {
    const txId = await f.cluster.transaction(async (tx) => {
      const insert = tx.table(f.currencies).insert([{ code: 'EUR', rate: 100 }, { code: 'USD', rate: 92 }])
      expect(insert.explain()).toMatchObject({ route: 'reference-write', shards: [...SHARDS] })
      expect(await insert).toBe(2)
      expect(tx.shards.sort()).toEqual([...SHARDS].sort())
      return tx.id
    })
    expect(await codesByShard()).toEqual(everywhere(['EUR', 'USD']))
    expect(f.t.steps.some((s) => s.txId === txId && s.step === 'decided')).toBe(true)
  })

  it('reads from the log shard only', async () => {
    await f.cluster.table(f.currencies).insert({ code: 'EUR', rate: 100 })
    // Rows seen on one shard only tell which shard was read.
    await f.cluster.forShard('pg-0')(f.currencies).insert({ code: 'PG0', rate: 1 })
    await f.cluster.forShard('my-1')(f.currencies).insert({ code: 'MY1', rate: 1 })
    await f.cluster.transaction(async (tx) => {
      const rows = await tx.table(f.currencies).orderBy('code')
      expect(rows.map((r) => r.code)).toEqual(['EUR', 'PG0'])
      expect(tx.shards).toEqual(['pg-0'])
      expect(tx.table(f.currencies).where({ code: 'EUR' }).explain()).toMatchObject({ route: 'reference-read', shards: ['pg-0'] })
    })
  })

  it('updates and deletes on every shard, reporting one copy’s count', async () => {
    await f.cluster.table(f.currencies).insert([{ code: 'EUR', rate: 100 }, { code: 'USD', rate: 92 }])
    await f.cluster.transaction(async (tx) => {
      // No shard key and no allShards: a reference write always goes everywhere.
      expect(await tx.table(f.currencies).update({ rate: 1 })).toBe(2)
      expect(await tx.table(f.currencies).where({ code: 'USD' }).del()).toBe(1)
    })
    const rows = await f.rowsByShard(f.currencies)
    for (const shardId of SHARDS) expect(rows[shardId]).toEqual([{ code: 'EUR', rate: 1 }])
  })

  describe('a write failing on one shard changes no shard', () => {
    // EUR already exists on my-0 only: inserting it fails there, with a duplicate key.
    beforeEach(() => f.cluster.forShard('my-0')(f.currencies).insert({ code: 'EUR', rate: 1 }))
    const onlyThePreexistingRow = { ...everywhere([]), 'my-0': ['EUR'] }

    it('inside a transaction that fails', async () => {
      expect(duplicateKeyFrom(await rejectionOf(f.cluster.transaction((tx) => tx.table(f.currencies).insert([{ code: 'USD', rate: 2 }, { code: 'EUR', rate: 2 }]))))).toBe('mysql')
      expect(await codesByShard()).toEqual(onlyThePreexistingRow)
    })

    it('inside a transaction that catches the error and commits', async () => {
      await f.cluster.transaction(async (tx) => {
        expect(duplicateKeyFrom(await rejectionOf(tx.table(f.currencies).insert([{ code: 'USD', rate: 2 }, { code: 'EUR', rate: 2 }])))).toBe('mysql')
        await tx.table(f.currencies).insert({ code: 'GBP', rate: 3 })
      })
      expect(await codesByShard()).toEqual({ ...everywhere(['GBP']), 'my-0': ['EUR', 'GBP'] })
    })

    it('outside a transaction', async () => {
      expect(duplicateKeyFrom(await rejectionOf(f.cluster.table(f.currencies).insert([{ code: 'USD', rate: 2 }, { code: 'EUR', rate: 2 }])))).toBe('mysql')
      expect(await codesByShard()).toEqual(onlyThePreexistingRow)
    })
  })
})
