import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoutingError } from '../../src/index.js'
import { SHARDS, type ShardedFixture, startShardedFixture } from './sharded-fixture.js'

interface Account {
  id: number
  owner: string | null
  balance: number
  score: number | string | null
}

describe('reads without the shard key fan out, then merge, order and cut', () => {
  let f: ShardedFixture
  let rows: Account[]
  const ids = (list: { id: unknown }[]) => list.map((r) => Number(r.id))

  beforeAll(async () => {
    f = await startShardedFixture()
    const owned = f.idsOwnedBy(3)
    // Balances interleave across shards. Each shard holds one NULL score; the lowest
    // score is on MariaDB and the highest on PostgreSQL, so that a shard putting NULLs
    // on its own default side would send the wrong first rows under a limit. PostgreSQL
    // returns bigint as text (where '200' < '30'), MariaDB as numbers.
    const scores: Record<string, (number | null)[]> = {
      'pg-0': [null, 30, 900_000],
      'pg-1': [null, 200, 4_000],
      'my-0': [null, 9, 90_000],
      'my-1': [null, 10, 100_000],
    }
    rows = SHARDS.flatMap((s) =>
      owned[s]!.slice(0, 3).map((id, i) => ({
        id,
        // Ties between NULL scores break on owner, in the same direction: PostgreSQL's
        // NULLs come first ascending, MariaDB's descending.
        owner: i === 0 ? (s.startsWith('pg') ? 'a' : 'b') : `o${id % 3}`,
        balance: (id * 37) % 101,
        score: scores[s]![i]!,
      })),
    )
    await f.cluster.table(f.accounts).insert(rows)
  })
  afterAll(() => f.close())

  const byBalanceDesc = () => [...rows].sort((a, b) => b.balance - a.balance)
  const scoreOrder = (nulls: 'first' | 'last', dir: 1 | -1) => (a: Account, b: Account) => {
    if (a.score === null || b.score === null) {
      if (a.score === b.score) return dir * a.owner!.localeCompare(b.owner!) || a.id - b.id
      return (a.score === null) === (nulls === 'first') ? -1 : 1
    }
    return dir * (Number(a.score) - Number(b.score)) || a.id - b.id
  }

  it('orders by a column across shards and applies offset and limit after the merge', async () => {
    await f.cluster.transaction(async (tx) => {
      const query = tx.table<Account>(f.accounts).orderBy('balance', 'desc').offset(2).limit(4)
      expect(query.explain()).toMatchObject({ route: 'fan-out', shards: [...SHARDS] })
      expect(query.explain().reason).toContain('ordered by balance desc, offset 2, limit 4')
      expect(ids(await query)).toEqual(ids(byBalanceDesc().slice(2, 6)))
      expect(tx.shards.sort()).toEqual([...SHARDS].sort())
    })
  })

  it('returns the global first row', async () => {
    const lowest = [...rows].sort((a, b) => a.balance - b.balance)[0]!
    expect(await f.cluster.table<Account>(f.accounts).orderBy('balance').first()).toMatchObject({ id: lowest.id, balance: lowest.balance })
    expect(await f.cluster.table(f.accounts).where({ id: -1 }).first()).toBeUndefined()
  })

  it('orders bigint values numerically whichever dialect returned them', async () => {
    const got = await f.cluster.table<Account>(f.accounts).whereNotNull('score').orderBy('score').select('id', 'score')
    const expected = rows.filter((r) => r.score !== null).sort(scoreOrder('last', 1))
    expect(ids(got)).toEqual(ids(expected))
    expect(new Set(got.map((r) => typeof r.score))).toEqual(new Set(['string', 'number']))
  })

  it.each([
    ['asc', undefined, 'last', 1],
    ['desc', undefined, 'first', -1],
    ['asc', 'first', 'first', 1],
    ['desc', 'last', 'last', -1],
  ] as const)('puts NULLs the same way on every dialect: %s nulls %s', async (direction, nulls, placed, dir) => {
    const query = f.cluster.table<Account>(f.accounts).orderBy('score', direction, nulls).orderBy('owner', direction).orderBy('id')
    expect(ids(await query)).toEqual(ids([...rows].sort(scoreOrder(placed, dir))))
    // With a limit each shard sends only its first rows (see the scores above): their NULL placement must agree with the merge.
    for (const limit of [1, 2]) {
      const limited = f.cluster.table<Account>(f.accounts).orderBy('score', direction, nulls).orderBy('owner', direction).orderBy('id').limit(limit)
      expect(ids(await limited)).toEqual(ids([...rows].sort(scoreOrder(placed, dir)).slice(0, limit)))
    }
  })

  it('selects columns, aliases included, and orders by a selected name', async () => {
    const got = await f.cluster.table(f.accounts).select('id', 'balance as amount').orderBy('amount', 'desc').limit(3)
    expect(got).toEqual(byBalanceDesc().slice(0, 3).map((r) => ({ id: r.id, amount: r.balance })))
  })

  it('refuses to order by a column the result does not hold', async () => {
    const query = f.cluster.table(f.accounts).select('id').orderBy('balance')
    expect(() => query.explain()).toThrow(RoutingError)
    await expect(query).rejects.toMatchObject({ code: 'UNROUTABLE_QUERY' })
  })

  it('reads outside a transaction in a read-only transaction of its own, so that every shard it reads is fenced', async () => {
    const before = f.cluster.stats().commits
    expect(await f.cluster.table(f.accounts)).toHaveLength(rows.length)
    expect(f.cluster.stats().commits).toEqual({ ...before, readOnly: before.readOnly + 1 })
  })

  it('refuses aggregates, groups, OR, joins and callbacks with a typed error', async () => {
    const q = () => f.cluster.table(f.accounts)
    for (const refused of [
      () => q().count(),
      () => q().sum('balance'),
      () => q().max('balance'),
      () => q().groupBy('owner'),
      () => q().distinct('owner'),
      () => q().orWhere({ id: 1 }),
      () => q().join('other', 'a', 'b'),
      () => q().where((() => {}) as never),
      () => q().where({ id: f.cluster.forShard('pg-0').raw('1') as never }),
      () => q().whereIn('id', f.cluster.forShard('pg-0')('x').select('id') as never),
    ]) {
      expect(refused).toThrow(RoutingError)
      try {
        refused()
      } catch (error) {
        expect((error as RoutingError).code).toBe('UNROUTABLE_QUERY')
      }
    }
    expect(() => q().limit(-1)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }))
    expect(() => q().where('id', 'between' as never, 1)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }))
  })
})
