import type { Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A branch sends knex's compiled statements on its own connection, without knex's
 * runner: what a caller gets back must still be exactly what knex gives. Each case
 * runs through plain knex (knex's own runner, autocommit), as the first statement of
 * a branch (the one carrying BEGIN / XA START) and as a later statement of a branch,
 * each on a table of its own with the same rows, and the three results must agree.
 */
type Case = readonly [name: string, run: (k: Knex, table: string) => Promise<unknown>, dialects?: readonly string[]]

const CASES: readonly Case[] = [
  ['insert one', (k, t) => k(t).insert({ name: 'a', n: 1 })],
  ['insert many', (k, t) => k(t).insert([{ name: 'b', n: 2 }, { name: 'c', n: 3 }])],
  ['insert returning', (k, t) => k(t).insert({ name: 'd', n: 4 }).returning(['id', 'name']), ['postgres']],
  ['select', (k, t) => k(t).select('id', 'name', 'n').orderBy('id')],
  ['first', (k, t) => k(t).where({ name: 'b' }).first('id', 'n')],
  ['first, no row', (k, t) => k(t).where({ name: 'none' }).first()],
  ['pluck', (k, t) => k(t).orderBy('id').pluck('name')],
  ['count', (k, t) => k(t).count({ c: '*' })],
  ['update', (k, t) => k(t).where('n', '>', 1).update({ n: 10 })],
  ['update, no row', (k, t) => k(t).where({ name: 'none' }).update({ n: 0 })],
  ['update returning', (k, t) => k(t).where({ name: 'a' }).update({ n: 5 }).returning('*'), ['postgres']],
  ['increment', (k, t) => k(t).where({ name: 'a' }).increment('n', 2)],
  ['decrement', (k, t) => k(t).where({ name: 'a' }).decrement('n', 1)],
  ['raw select', (k, t) => k.raw('select name from ?? where n > ? order by name', [t, 1])],
  ['delete returning', (k, t) => k(t).where({ name: 'c' }).del().returning(['id']), ['postgres']],
  ['delete', (k, t) => k(t).where('n', '>=', 5).del()],
  ['delete, no row', (k, t) => k(t).where({ name: 'none' }).del()],
]

/** Drops what names the table (pg field metadata, mysql column definitions): the rest must agree. */
function comparable(result: unknown): unknown {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[1]) && result[1].every((f) => typeof f === 'object' && f !== null && 'orgTable' in f)) {
    return { mysqlRaw: comparable(result[0]) }
  }
  if (result !== null && typeof result === 'object' && 'command' in result && 'rows' in result) {
    const r = result as { command: string; rowCount: number; rows: unknown[] }
    return { command: r.command, rowCount: r.rowCount, rows: comparable(r.rows) }
  }
  if (Array.isArray(result)) return result.map(comparable)
  if (result !== null && typeof result === 'object') return { ...result }
  return result
}

describe('knex results through a branch', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
  })
  afterAll(() => t.close())

  it('pg-0: a schema builder of several statements and hasTable run on the branch, in order', async () => {
    const table = t.table('schema_pg0')
    const results = await t.cluster.transaction(async (tx) => {
      const k = tx.forShard('pg-0')
      const created = await k.schema.createTable(table, (b) => {
        b.integer('id').primary()
        b.string('name').index()
      })
      return { created, has: await k.schema.hasTable(table), missing: await k.schema.hasTable(`${table}_none`) }
    })
    // createTable with an index is several statements: knex answers with one result each.
    expect(Array.isArray(results.created) && results.created.length).toBeGreaterThan(1)
    expect(results.has).toBe(true)
    expect(results.missing).toBe(false)
    expect(await t.cluster.forShard('pg-0').schema.hasTable(table)).toBe(true)
  })

  it("pg-0: knex's .timeout() with cancel on a branch statement fails it as knex does, and the transaction rolls back", async () => {
    const error = await t.cluster
      .transaction((tx) => tx.forShard('pg-0').raw('select pg_sleep(5)').timeout(50, { cancel: true }))
      .catch((e: unknown) => e)
    expect((error as Error).name).toBe('KnexTimeoutError')
    expect((error as Error).message).toBe('Defined query timeout of 50ms exceeded when running query.')
  })

  for (const [shardId, dialect] of [['pg-0', 'postgres'], ['my-0', 'mysql']] as const) {
    it(`${shardId}: every result, first statement or later, is knex's own`, async () => {
      const plain = t.cluster.forShard(shardId)
      const tables = ['plain', 'first', 'later'].map((name) => t.table(`results_${name}_${shardId.replace('-', '')}`))
      for (const table of tables) {
        await plain.schema.createTable(table, (b) => {
          b.increments('id')
          b.string('name', 20)
          b.integer('n')
        })
      }
      const [plainTable, firstTable, laterTable] = tables as [string, string, string]
      const cases = CASES.filter(([, , only]) => only === undefined || only.includes(dialect))
      const viaKnex: unknown[] = []
      for (const [, run] of cases) viaKnex.push(await run(plain, plainTable))
      const asFirst: unknown[] = []
      for (const [, run] of cases) asFirst.push(await t.cluster.transaction((tx) => run(tx.forShard(shardId), firstTable)))
      const asLater = await t.cluster.transaction(async (tx) => {
        const k = tx.forShard(shardId)
        await k.raw('select 1')
        const results: unknown[] = []
        for (const [, run] of cases) results.push(await run(k, laterTable))
        return results
      })
      cases.forEach(([name], i) => {
        expect(comparable(asFirst[i]), `${name}, first statement`).toEqual(comparable(viaKnex[i]))
        expect(comparable(asLater[i]), `${name}, later statement`).toEqual(comparable(viaKnex[i]))
      })
      // Spot checks of the shapes, so that agreeing on something wrong fails too.
      const at = (name: string): unknown => asLater[cases.findIndex(([n]) => n === name)]
      expect(at('update')).toBe(dialect === 'postgres' ? 3 : 2)
      expect(at('update, no row')).toBe(0)
      expect(at('delete, no row')).toBe(0)
      expect(at('first, no row')).toBeUndefined()
      expect(at('pluck')).toEqual(dialect === 'postgres' ? ['a', 'b', 'c', 'd'] : ['a', 'b', 'c'])
      expect(at('first')).toEqual({ id: 2, n: 2 })
      if (dialect === 'mysql') expect(at('insert one')).toEqual([1])
      else expect(at('insert returning')).toEqual([{ id: 4, name: 'd' }])
    })

    it(`${shardId}: knex's query, query-response and query-error events fire for branch statements`, async () => {
      const plain = t.cluster.forShard(shardId)
      const table = t.table(`events_${shardId.replace('-', '')}`)
      await plain.schema.createTable(table, (b) => {
        b.integer('id').primary()
      })
      const seen: string[] = []
      const onQuery = (q: { sql: string; method?: string }): void => void seen.push(`query ${q.method} ${q.sql.includes(table)}`)
      const onResponse = (response: unknown, q: { method?: string }): void => void seen.push(`response ${q.method} ${JSON.stringify(response)}`)
      const onError = (error: Error, q: { method?: string }): void => void seen.push(`error ${q.method} ${error.message.includes(table)}`)
      plain.on('query', onQuery).on('query-response', onResponse).on('query-error', onError)
      const builderEvents: string[] = []
      try {
        await t.cluster
          .transaction(async (tx) => {
            const k = tx.forShard(shardId)
            await k(table)
              .insert({ id: 1 })
              .on('query', () => builderEvents.push('query'))
              .on('query-response', () => builderEvents.push('query-response'))
            await k(table).where({ id: 1 }).update({ id: 2 })
            await k(table)
              .insert({ id: 2 })
              .on('query-error', (error: Error) => builderEvents.push(`query-error ${error.message.includes('insert into')}`))
          })
          .catch(() => undefined)
      } finally {
        plain.off('query', onQuery).off('query-response', onResponse).off('query-error', onError)
      }
      // MySQL answers an insert with [insertId]: 0 for a table without AUTO_INCREMENT.
      const insertResponse = dialect === 'mysql' ? '[0]' : undefined
      expect(seen.slice(0, 2)).toEqual(['query insert true', insertResponse === undefined ? expect.stringMatching(/^response insert /) : `response insert ${insertResponse}`])
      expect(seen.slice(2, 4)).toEqual(['query update true', 'response update 1'])
      expect(seen.slice(4)).toEqual(['query insert true', 'error insert true'])
      expect(builderEvents).toEqual(['query', 'query-response', 'query-error true'])
    })
  }
})
