import { afterEach, describe, expect, test } from 'vitest'
import { type Cluster, comparePlacementReports, ConfigError, type PlacementReport, type ShardConfig, type VerifyCursor } from '../../src/index.js'
import { hashShardKey, slotOfHash } from '../../src/sharding/index.js'
import { sharedShards } from '../support/shared-cluster.js'
import { type ReshardBank, startReshardBank } from './reshard-fixture.js'

const banks: ReshardBank[] = []
afterEach(async () => {
  await Promise.all(banks.splice(0).map((b) => b.close()))
})

/**
 * A bank of `accounts` routed by the shared servers `routed` picks (`every`: the ones
 * its cluster connects to, `routed` by default), closed after the test.
 */
async function bankOn(
  pick: (pg: ShardConfig[], my: ShardConfig[]) => { routed: ShardConfig[]; every?: ShardConfig[] },
  accounts: number,
): Promise<{ bank: ReshardBank; routed: ShardConfig[]; every: ShardConfig[]; pg: ShardConfig[]; my: ShardConfig[] }> {
  const pg = sharedShards('postgres')
  const my = sharedShards('mysql')
  const { routed, every = routed } = pick(pg, my)
  const bank = await startReshardBank(routed, every, accounts)
  banks.push(bank)
  return { bank, routed, every, pg, my }
}

function slotOf(key: string | number): number {
  return slotOfHash(hashShardKey(key))
}

/** What two runs over the same rows must agree on, whatever their pages. */
function counted(report: PlacementReport): Pick<PlacementReport, 'misplaced' | 'tables' | 'complete' | 'comparable' | 'epochs'> {
  const { misplaced, tables, complete, comparable, epochs } = report
  return { misplaced, tables, complete, comparable, epochs }
}

/** Runs verify and stops it (signal) once `pages` pages are read. */
async function stoppedAfter(cluster: Cluster, pages: number, options: { pageSize: number; resume?: VerifyCursor }): Promise<PlacementReport> {
  const controller = new AbortController()
  let seen = 0
  return cluster.verifyPlacement({
    ...options,
    signal: controller.signal,
    onProgress: () => {
      if (++seen === pages) controller.abort()
    },
  })
}

describe('verifyPlacement, page by page', () => {
  test('pages smaller than the table give the same totals and slot ranges as one page; a stop and a resume give the same report', async () => {
    const { bank } = await bankOn((pg, my) => ({ routed: [pg[0]!, my[0]!, my[1]!] }), 200)

    const whole = await bank.cluster.verifyPlacement({ pageSize: 10_000 })
    expect(whole).toMatchObject({ complete: true, comparable: true, misplaced: [], slotsPerBucket: 1024 })
    expect(whole.cursor).toBeUndefined()
    expect(whole.reason).toBeUndefined()
    const accounts = whole.tables.find((t) => t.table === bank.accounts)!
    expect(accounts.rows).toBe(200)
    expect(accounts.buckets.reduce((sum, b) => sum + b.rows, 0)).toBe(200)
    for (const b of accounts.buckets) expect(b.last - b.first).toBe(1023)
    // The table's checksum is the sum of its ranges' (an order-free sum modulo 2^32).
    expect(accounts.checksum).toBe((accounts.buckets.reduce((sum, b) => sum + parseInt(b.checksum, 16), 0) >>> 0).toString(16).padStart(8, '0'))

    const paged = await bank.cluster.verifyPlacement({ pageSize: 7 })
    expect(counted(paged)).toEqual(counted(whole))
    // Each shard holds 50 to 90 of the 200 rows: many pages of 7 (and one for the shards' first look).
    expect(paged.pages).toBeGreaterThan(200 / 7)
    expect(comparePlacementReports(whole, paged)).toEqual({ equal: true, problems: [], differences: [] })

    // Stopped by its signal after 5 pages: incomplete, with a cursor that survives JSON, and resumed twice.
    const stopped = await stoppedAfter(bank.cluster, 5, { pageSize: 7 })
    expect(stopped).toMatchObject({ complete: false, comparable: false, pages: 5 })
    expect(stopped.reason).toMatch(/^incomplete: stopped before/)
    expect(stopped.tables.find((t) => t.table === bank.accounts)!.rows).toBeLessThan(200)
    const cursor = JSON.parse(JSON.stringify(stopped.cursor)) as VerifyCursor
    expect(cursor).toMatchObject({ version: 1, table: bank.accounts, after: [expect.any(Number)] })
    const again = await stoppedAfter(bank.cluster, 3, { pageSize: 7, resume: cursor })
    expect(again).toMatchObject({ complete: false, pages: 8 })
    const resumed = await bank.cluster.verifyPlacement({ pageSize: 7, resume: JSON.parse(JSON.stringify(again.cursor)) as VerifyCursor })
    expect(counted(resumed)).toEqual(counted(paged))
    expect(resumed.pages).toBe(paged.pages)
    expect(comparePlacementReports(stopped, resumed).problems).toEqual([expect.stringMatching(/^the report before is not comparable: incomplete/)])
  })

  test('a key with many rows, a composite key and a NULL key column are each read once, whatever the page size', async () => {
    const { bank, routed } = await bankOn((pg, my) => ({ routed: [pg[0]!, my[0]!] }), 10)
    const orders = `${bank.accounts}_ord`
    const lines = `${bank.accounts}_line`
    const cluster = bank.sibling(routed, {
      topology: 'follow',
      tables: {
        [bank.accounts]: { shardKey: 'id' },
        [bank.currencies]: { reference: true },
        [orders]: { shardKey: 'customer' },
        [lines]: { shardKey: (row) => `${row.tenant ?? '-'}:${row.item}`, keyColumns: ['tenant', 'item'] },
      },
    })
    await cluster.transaction(async () => {}) // loads the stored topology, which shardFor below routes by
    const rows = { orders: [] as Record<string, unknown>[], lines: [] as Record<string, unknown>[] }
    // 12 customers of 5 orders each: a page of 3 ends inside a customer's rows.
    for (let n = 0; n < 60; n++) rows.orders.push({ id: n, customer: `c${n % 12}`, total: n * 3 })
    for (let n = 0; n < 40; n++) rows.lines.push({ id: n, tenant: n % 9 === 0 ? null : `t${n % 4}`, item: n % 6, qty: n })
    try {
      for (const shard of routed) {
        const knex = cluster.forShard(shard.id)
        await knex.schema.createTable(orders, (t) => {
          t.integer('id').primary()
          t.string('customer', 16).notNullable().index()
          t.integer('total').notNullable()
        })
        await knex.schema.createTable(lines, (t) => {
          t.integer('id').primary()
          t.string('tenant', 16).nullable()
          t.integer('item').notNullable()
          t.integer('qty').notNullable()
          t.index(['tenant', 'item'])
        })
      }
      for (const order of rows.orders) await cluster.forShard(cluster.shardFor(order.customer as string))(orders).insert(order)
      for (const line of rows.lines) await cluster.forShard(cluster.shardFor(`${(line.tenant as string | null) ?? '-'}:${line.item}`))(lines).insert(line)

      const whole = await cluster.verifyPlacement()
      expect(whole.misplaced).toEqual([])
      // By name, whatever order the config declares them in.
      expect(whole.tables.map((t) => [t.table, t.rows])).toEqual([
        [bank.accounts, 10],
        [lines, 40],
        [orders, 60],
      ])
      for (const pageSize of [1, 3, 4]) {
        const paged = await cluster.verifyPlacement({ pageSize })
        expect(counted(paged), `pageSize ${pageSize}`).toEqual(counted(whole))
      }
      // Stopped inside the orders, resumed with a page size of its own.
      const stopped = await stoppedAfter(cluster, 9, { pageSize: 3 })
      expect(stopped.complete).toBe(false)
      expect(counted(await cluster.verifyPlacement({ pageSize: 2, resume: stopped.cursor! }))).toEqual(counted(whole))
    } finally {
      for (const shard of routed) {
        for (const t of [orders, lines]) await cluster.forShard(shard.id).schema.dropTableIfExists(t)
      }
    }
  })

  test('compare names the slot range of a changed row; a row on the wrong shard is misplaced and counted', async () => {
    const { bank, pg, my } = await bankOn((pg, my) => ({ routed: [pg[1]!, my[0]!] }), 200)
    const before = await bank.cluster.verifyPlacement({ pageSize: 16 })

    const changed = 42
    const owner = bank.cluster.shardFor(changed)
    expect(await bank.cluster.forShard(owner)(bank.accounts).where({ id: changed }).update({ balance: 99 })).toBe(1)
    const after = await bank.cluster.verifyPlacement({ pageSize: 16 })
    const slot = slotOf(changed)
    const range = { first: slot - (slot % 1024), last: slot - (slot % 1024) + 1023 }
    const comparison = comparePlacementReports(before, after)
    expect(comparison).toMatchObject({ equal: false, problems: [] })
    expect(comparison.differences).toEqual([{ table: bank.accounts, ...range, before: { rows: 1, checksum: expect.any(String) }, after: { rows: 1, checksum: expect.any(String) } }])
    expect(comparison.differences[0]!.before.checksum).not.toBe(comparison.differences[0]!.after.checksum)
    // Totals: the same row count, another checksum.
    expect(after.tables[0]!.rows).toBe(200)
    expect(after.tables[0]!.checksum).not.toBe(before.tables[0]!.checksum)

    // A row written around shardtx onto the shard that does not own it.
    const stray = 100_000 + [...Array(500).keys()].find((n) => bank.cluster.shardFor(100_000 + n) === my[0]!.id)!
    await bank.cluster.forShard(pg[1]!.id)(bank.accounts).insert({ id: stray, balance: 1, note: 'stray' })
    const misplaced = await bank.cluster.verifyPlacement({ pageSize: 16 })
    expect(misplaced.misplaced).toEqual([{ table: bank.accounts, shardId: pg[1]!.id, owner: my[0]!.id, rows: 1, example: String(stray) }])
    expect(misplaced.tables[0]!.rows).toBe(201)
    const strayRange = slotOf(stray) - (slotOf(stray) % 1024)
    expect(comparePlacementReports(after, misplaced).differences).toEqual([
      expect.objectContaining({ table: bank.accounts, first: strayRange, after: expect.objectContaining({ rows: expect.any(Number) }) }),
    ])
  })

  test('a shard this process connects to but the topology does not route is read too: any row on it is misplaced', async () => {
    // As a mover is set up before it adds my[1]: connected to it, following a topology without it (no fence row there).
    const { bank, pg, my } = await bankOn((pg, my) => ({ routed: [pg[1]!, my[0]!], every: [pg[1]!, my[0]!, my[1]!] }), 100)
    const clean = await bank.cluster.verifyPlacement({ pageSize: 16 })
    expect(clean).toMatchObject({ misplaced: [], complete: true })
    expect(clean.tables[0]!.rows).toBe(100)

    const stray = 100_000 + [...Array(500).keys()].find((n) => bank.cluster.shardFor(100_000 + n) === pg[1]!.id)!
    await bank.cluster.forShard(my[1]!.id)(bank.accounts).insert({ id: stray, balance: 1, note: 'stray' })
    const found = await bank.cluster.verifyPlacement({ pageSize: 16 })
    expect(found.misplaced).toEqual([{ table: bank.accounts, shardId: my[1]!.id, owner: pg[1]!.id, rows: 1, example: String(stray) }])
    await bank.cluster.forShard(my[1]!.id)(bank.accounts).where({ id: stray }).delete()
  })

  test('a job that moves rows between two pages makes the counts not comparable; placement is still checked', async () => {
    const { bank, every } = await bankOn((pg, my) => ({ routed: [pg[0]!, my[0]!], every: [pg[0]!, my[0]!, my[1]!] }), 120)
    const stopped = await stoppedAfter(bank.cluster, 2, { pageSize: 10 })
    const partial = await bank.cluster.reshard(
      every.map((s) => ({ id: s.id })),
      { batchSize: 30, maxBatches: 1 },
    )
    expect(partial.done).toBe(1)
    const resumed = await bank.cluster.verifyPlacement({ pageSize: 10, resume: stopped.cursor! })
    expect(resumed.complete).toBe(true)
    expect(resumed.comparable).toBe(false)
    expect(resumed.epochs.length).toBeGreaterThan(1)
    expect(resumed.epoch).toBe(resumed.epochs.at(-1))
    expect(resumed.reason).toMatch(/^the topology changed while verify read \(epochs \d+, \d+\)/)
    expect(resumed.misplaced).toEqual([])
    expect(comparePlacementReports(stopped, resumed).equal).toBe(false)
    // Read again at one epoch: comparable, with every row.
    const fresh = await bank.cluster.verifyPlacement({ pageSize: 10 })
    expect(fresh).toMatchObject({ complete: true, comparable: true, misplaced: [] })
    expect(fresh.tables[0]!.rows).toBe(120)
    expect((await bank.cluster.reverseReshard()).state).toBe('reversed')
  })

  test('bad options and cursors of another cluster, table set or shard set are ConfigErrors naming the field', async () => {
    const { bank, routed, my } = await bankOn((pg, my) => ({ routed: [pg[0]!, my[0]!] }), 30)
    const stopped = await stoppedAfter(bank.cluster, 1, { pageSize: 5 })
    const cursor = stopped.cursor!
    const refused = async (options: unknown, field: string | RegExp, message?: RegExp): Promise<void> => {
      const error = await bank.cluster.verifyPlacement(options as never).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).field).toMatch(field)
      if (message !== undefined) expect((error as Error).message).toMatch(message)
    }
    await refused({ pageSize: 0 }, 'options.pageSize', /integer ≥ 1, got 0/)
    await refused({ pageSize: 2.5 }, 'options.pageSize')
    await refused({ timeout: -1 }, 'options.timeout')
    await refused({ signal: 'stop' }, 'options.signal')
    await refused({ onProgress: 1 }, 'options.onProgress')
    await refused({ pages: 3 }, 'pages', /unknown option/)
    await refused({ resume: 'cursor' }, 'options.resume')
    await refused({ resume: { ...cursor, version: 2 } }, 'options.resume.version')
    await refused({ resume: { ...cursor, after: [{ when: 1 }] } }, 'options.resume.after[0]')
    await refused({ resume: { ...cursor, tally: { ...cursor.tally, tables: [{ table: bank.accounts, buckets: [[5000, 1, 1]] }] } } }, /^options\.resume\.tally\.tables\[0\]\.buckets\[0\]\[0\]$/)
    await refused({ resume: { ...cursor, scope: { ...cursor.scope, logTable: 'other_log' } } }, 'options.resume.scope', /the cluster logged in other_log/)
    await refused(
      { resume: { ...cursor, scope: { ...cursor.scope, tables: [{ name: 'orders', keyColumns: ['id'] }] } } },
      'options.resume.scope.tables',
      /taken over the sharded tables orders\(id\); this cluster declares acc_/,
    )
    await refused({ resume: { ...cursor, scope: { ...cursor.scope, shards: ['pg-0'] } } }, 'options.resume.scope.shards', /reading the shards pg-0; this process connects to/)
    await refused({ resume: { ...cursor, after: [1, 2] } }, 'options.resume.after', /one value per key column/)
    await refused({ resume: { ...cursor, after: [{ bigint: 'x' }] } }, 'options.resume.after[0]', /is not a key value/)
    await refused({ resume: { ...cursor, tally: { ...cursor.tally, tables: [{ table: 'orders', buckets: [] }] } } }, 'options.resume.tally.tables[0].table', /orders is not a declared/)
    // The same cursor from a cluster that connects to one more shard.
    const wider = bank.sibling([...routed, my[1]!], { topology: 'follow' })
    const error = await wider.verifyPlacement({ resume: cursor }).catch((e: unknown) => e)
    expect((error as ConfigError).field).toBe('options.resume.scope.shards')
    // And a report that is not one, for compare.
    expect(() => comparePlacementReports(stopped, { ...stopped, tables: [{ table: 'x', rows: 1, checksum: 'nope', buckets: [] }] })).toThrow(
      /^after\.tables\[0\]\.checksum: must be a checksum of 8 hex digits$/,
    )
  })
})
