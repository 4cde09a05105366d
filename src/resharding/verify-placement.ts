import type { Knex } from 'knex'
import type { ShardKey } from '../sharding/index.js'
import type { Routing } from '../topology/routing.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'
import type { ShardedTable } from './move-rows.js'
import { type PlacementReport, PlacementTally, SLOTS_PER_BUCKET, type VerifyCursor, type VerifyScope } from './placement-report.js'
import { onShard, type ReshardContext } from './reshard-context.js'
import { shardedTables } from './reshard-job.js'
import { encodeKeyValue, positionOf } from './verify-cursor.js'
import type { ResolvedVerifyOptions } from './verify-options.js'

export type { PlacementReport } from './placement-report.js'

/** A page that fails retryably (stale topology, a fence held by a resharding step) runs again, up to this many times in all. */
const PAGE_ATTEMPTS = 10

/** The next page: of the `table`-th table on the `shard`-th shard, keys after `after` (null: the shard's first page). */
interface Position {
  table: number
  shard: number
  after: unknown[] | null
}

interface Page {
  routing: Routing
  rows: Record<string, unknown>[]
  /** The last key the page holds, when there may be more rows after it on this shard. */
  next: unknown[] | undefined
}

/**
 * Reads every row of every declared sharded table on every shard this process
 * connects to, page by page (keyset pagination by the table's key columns), each
 * page of a routed shard in a fenced transaction of its own, so that a resharding
 * batch cannot commit half-way through a page and each page routes its rows by the
 * topology of its own transaction (a shard the topology does not route is read
 * outside any: see readPageOf). Memory holds one page. Stops at a page boundary when
 * the signal is aborted, with a cursor to resume from.
 */
export async function verifyPlacement(ctx: ReshardContext, options: ResolvedVerifyOptions): Promise<PlacementReport> {
  // By name, as the shards by id: a cursor resumes whatever order the config declares them in.
  const tables = shardedTables(ctx).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const shards = [...ctx.participants.keys()].sort()
  const scope: VerifyScope = {
    logShardId: ctx.state.logShardId,
    logTable: ctx.config.logTable,
    shards,
    tables: tables.map((t) => ({ name: t.name, keyColumns: [...t.keyColumns] })),
    slotsPerBucket: SLOTS_PER_BUCKET,
  }
  const { resume } = options
  let at: Position | undefined = resume !== undefined ? positionOf(resume, scope, tables, 'options.resume') : tables.length > 0 ? { table: 0, shard: 0, after: null } : undefined
  const tally = new PlacementTally(
    tables.map((t) => t.name),
    resume?.tally,
  )
  if (tables.length === 0) tally.epochs.add(await ctx.transaction(async () => ctx.state.current.epoch, { timeout: options.timeoutMs }))
  const report = (): PlacementReport => tally.report(at === undefined ? undefined : cursorAt(at, scope, tables, tally), ctx.state.current.epoch)
  while (at !== undefined && options.signal?.aborted !== true) {
    const table = tables[at.table]!
    const shardId = shards[at.shard]!
    const after = at.after
    const page = await readPageOf(ctx, shardId, (routing, knex) => readPage(routing, knex, table, after, options.pageSize), options.timeoutMs)
    countPage(tally, table, shardId, page)
    at = page.next !== undefined ? { ...at, after: page.next } : nextShard(at, tables.length, shards.length)
    options.onProgress?.(report())
  }
  return report()
}

/**
 * One page of `table` on `shardId`: the rows whose key columns come after
 * `after`, up to the `pageSize`-th key in key order and every row of that last
 * key (a key may have many rows), all as the database orders and compares them.
 * The shard's first page checks that the table is there and also reads the rows
 * with a NULL key column, which no key order pages.
 */
/**
 * A page of a shard the topology routes by, in a fenced transaction (retried while
 * stale or held); of a shard it does not route (configured here, not yet added, or
 * never), outside any: such a shard may hold no fence row (its branch would be refused
 * as stale however often it reloads), no process routes a write to it, and every row
 * on it is misplaced.
 */
function readPageOf(ctx: ReshardContext, shardId: string, read: (routing: Routing, knex: Knex) => Promise<Page>, timeoutMs: number): Promise<Page> {
  const routing = ctx.state.current
  if (!routing.ring.shards.some((s) => s.id === shardId)) {
    return onShard(ctx, shardId, 'could not read a page', () => withBoundedKnex(ctx.participants.get(shardId)!, timeoutMs, (knex) => read(routing, knex)))
  }
  return ctx.transaction((tx) => read(ctx.state.current, tx.forShard(shardId)), { timeout: timeoutMs, retry: { attempts: PAGE_ATTEMPTS } })
}

async function readPage(routing: Routing, knex: Knex, table: ShardedTable, after: unknown[] | null, pageSize: number): Promise<Page> {
  const columns = table.keyColumns
  const rows: Record<string, unknown>[] = []
  if (after === null) {
    if (!(await knex.schema.hasTable(table.name))) return { routing, rows, next: undefined }
    rows.push(...((await knex(table.name).where((q) => columns.forEach((c) => q.orWhereNull(c))).select('*')) as Record<string, unknown>[]))
  }
  const keyed = (): Knex.QueryBuilder => {
    const query = knex(table.name).where((q) => columns.forEach((c) => q.whereNotNull(c)))
    return after === null ? query : query.where((q) => keysCompared(q, columns, after, '>'))
  }
  const bounds = (await keyed()
    .select([...columns])
    .orderBy(columns.map((column) => ({ column, order: 'asc' })))
    .limit(pageSize)) as Record<string, unknown>[]
  const last = bounds.length === pageSize ? columns.map((c) => bounds.at(-1)![c]) : undefined
  const page = last === undefined ? keyed() : keyed().where((q) => keysCompared(q, columns, last, '<='))
  rows.push(...((await page.select('*')) as Record<string, unknown>[]))
  return { routing, rows, next: last }
}

/**
 * `(c1, …, cn) > (v1, …, vn)` or `<=`, in key order, spelled out as
 * `c1 > v1 or (c1 = v1 and c2 > v2) …` so that both engines read it as a range of
 * an index on the key columns.
 */
function keysCompared(query: Knex.QueryBuilder, columns: readonly string[], values: unknown[], op: '>' | '<='): void {
  const strict = op === '>' ? '>' : '<'
  columns.forEach((column, i) => {
    query.orWhere((q) => {
      for (let j = 0; j < i; j++) q.where(columns[j]!, values[j] as Knex.Value)
      q.where(column, strict, values[i] as Knex.Value)
    })
  })
  if (op === '<=') query.orWhere((q) => columns.forEach((column, j) => q.where(column, values[j] as Knex.Value)))
}

/** Counts a page's rows by slot and checks each is on the shard that owns it at the page's epoch. */
function countPage(tally: PlacementTally, table: ShardedTable, shardId: string, { routing, rows }: Page): void {
  for (const row of rows) {
    const key = table.keyOf(row) as ShardKey
    const slot = routing.ring.slotFor(key)
    const owner = routing.ring.slotOwner(slot)
    tally.count(table.name, slot, canonical(row))
    if (owner !== shardId) tally.misplace(table.name, shardId, owner, String(key))
  }
  tally.pages++
  tally.epochs.add(routing.epoch)
}

function nextShard(at: Position, tables: number, shards: number): Position | undefined {
  if (at.shard + 1 < shards) return { table: at.table, shard: at.shard + 1, after: null }
  if (at.table + 1 < tables) return { table: at.table + 1, shard: 0, after: null }
  return undefined
}

function cursorAt(at: Position, scope: VerifyScope, tables: ShardedTable[], tally: PlacementTally): VerifyCursor {
  return {
    version: 1,
    scope,
    table: tables[at.table]!.name,
    shardId: scope.shards[at.shard]!,
    after: at.after === null ? null : at.after.map(encodeKeyValue),
    tally: tally.state(),
  }
}

/** A row as text that reads the same from either dialect for the common types (numbers as decimals, dates as ISO). */
function canonical(row: Record<string, unknown>): string {
  return Object.keys(row)
    .sort()
    .map((column) => {
      const value = row[column]
      if (value instanceof Date) return `${column}=${value.toISOString()}`
      if (ArrayBuffer.isView(value)) return `${column}=${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
      if (value !== null && typeof value === 'object') return `${column}=${JSON.stringify(value)}`
      return `${column}=${String(value)}`
    })
    .join('\u0001')
}
