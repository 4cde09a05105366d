import type { Knex } from 'knex'
import type { ShardKey, ShardRing } from '../sharding/index.js'
import type { ResolvedTable } from '../sharded-tables/table-declaration.js'

export type ShardedTable = Extract<ResolvedTable, { kind: 'sharded' }>

/** Keys per statement: small enough for any server's placeholder limit, large enough to be few round trips. */
const KEYS_PER_STATEMENT = 500
const ROWS_PER_INSERT = 200

/**
 * The distinct keys of `table` on `knex` whose slot `wanted` accepts. Neither
 * engine can compute the ring's hash, so the key columns of every row are read
 * and hashed here (docs/resharding.md, "Finding a batch's rows").
 */
export async function keysInSlots(
  knex: Knex,
  table: ShardedTable,
  ring: ShardRing,
  wanted: (slot: number) => boolean,
): Promise<Record<string, unknown>[]> {
  const rows = (await knex(table.name).select([...table.keyColumns])) as Record<string, unknown>[]
  const keys = new Map<string, Record<string, unknown>>()
  for (const row of rows) {
    if (!wanted(ring.slotFor(table.keyOf(row) as ShardKey))) continue
    keys.set(JSON.stringify(table.keyColumns.map((c) => String(row[c]))), row)
  }
  return [...keys.values()]
}

/**
 * Moves every row of `table` whose key is in `keys` from `source` to `destination`
 * (both knex bound to branches of one transaction): read, insert, delete. Resolves
 * with the number of rows moved. The read locks the rows (`FOR UPDATE`, by key, so
 * only the batch's rows): a statement that spans shards may still update them while
 * the batch is frozen, and a plain read would copy the value from before its update
 * and then delete the updated row (the model check found it). Locked, either the
 * update commits first and the read waits for it, or the update waits for the move,
 * whose fence hold then times out against the update's branch and rolls it back.
 */
export async function moveRows(source: Knex, destination: Knex, table: ShardedTable, keys: Record<string, unknown>[]): Promise<number> {
  let moved = 0
  for (let i = 0; i < keys.length; i += KEYS_PER_STATEMENT) {
    const chunk = keys.slice(i, i + KEYS_PER_STATEMENT)
    const rows = (await whereKeys(source(table.name), table, chunk).select('*').forUpdate()) as Record<string, unknown>[]
    await insertAll(destination, table.name, rows)
    await whereKeys(source(table.name), table, chunk).del()
    moved += rows.length
  }
  return moved
}

/** Replaces every row of a reference table on `destination` by those of `source`. */
export async function copyTable(source: Knex, destination: Knex, name: string): Promise<number> {
  const rows = (await source(name).select('*')) as Record<string, unknown>[]
  await destination(name).del()
  await insertAll(destination, name, rows)
  return rows.length
}

async function insertAll(knex: Knex, name: string, rows: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await knex(name).insert(rows.slice(i, i + ROWS_PER_INSERT).map(portable))
  }
}

function whereKeys(query: Knex.QueryBuilder, table: ShardedTable, keys: Record<string, unknown>[]): Knex.QueryBuilder {
  const columns = table.keyColumns
  if (columns.length === 1) return query.whereIn(columns[0]!, keys.map((k) => k[columns[0]!]) as readonly string[])
  return query.whereIn([...columns], keys.map((k) => columns.map((c) => k[c])) as readonly string[][])
}

/**
 * A row as read from one dialect, written to another: a JSON value read as an
 * object (PostgreSQL json/jsonb) goes as its text, which both engines take for a
 * JSON column; mysql2 would otherwise expand an object into `key = value` pairs.
 */
function portable(row: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined
  for (const [column, value] of Object.entries(row)) {
    if (value === null || typeof value !== 'object' || value instanceof Date || ArrayBuffer.isView(value)) continue
    copy ??= { ...row }
    copy[column] = JSON.stringify(value)
  }
  return copy ?? row
}
