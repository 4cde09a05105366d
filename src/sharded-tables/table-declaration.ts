import { rejectUnknownKeys } from '../config/validate.js'
import { ConfigError } from '../errors.js'
import type { ShardKey } from '../sharding/index.js'

/**
 * A table whose rows are spread over the shards by a shard key. The key is one
 * column, or a function of some columns (a composite key) named in `keyColumns`.
 *
 * ```ts
 * const accounts: ShardedTableDeclaration = { shardKey: 'id' }
 * const orders: ShardedTableDeclaration = {
 *   shardKey: (row) => `${row.tenant_id}:${row.customer_id}`,
 *   keyColumns: ['tenant_id', 'customer_id'],
 * }
 * ```
 */
export interface ShardedTableDeclaration {
  /** The shard-key column, or a function that makes the key from the `keyColumns` of a row. */
  shardKey: string | ((row: Record<string, any>) => ShardKey)
  /**
   * Required with a function `shardKey`, refused with a column: the columns the
   * function reads. The function is only ever given these columns, so an insert
   * and a filter that pins them always compute the same key; a filter routes
   * only when it pins every one of them, and updating any of them is refused.
   */
  keyColumns?: string[]
}

/**
 * A small table copied in full on every shard: reads go to one shard (the log
 * shard), writes go to every shard in the same atomic transaction.
 *
 * ```ts
 * const currencies: ReferenceTableDeclaration = { reference: true }
 * ```
 */
export interface ReferenceTableDeclaration {
  reference: true
}

/**
 * One entry of the cluster's `tables` option.
 *
 * ```ts
 * createCluster({ shards, tables: { accounts: { shardKey: 'id' }, currencies: { reference: true } } })
 * ```
 */
export type TableDeclaration = ShardedTableDeclaration | ReferenceTableDeclaration

/**
 * A declared table after validation.
 */
export type ResolvedTable =
  | {
      readonly name: string
      readonly kind: 'sharded'
      /** The columns the key is made of: the shard-key column, or the function's `keyColumns`. */
      readonly keyColumns: readonly string[]
      /** The key of a row, given only its key columns (all present, none null). */
      keyOf(keyValues: Record<string, unknown>): unknown
    }
  | { readonly name: string; readonly kind: 'reference' }

/**
 * Declared tables by name.
 */
export type ResolvedTables = ReadonlyMap<string, ResolvedTable>

const TABLE_KEYS = ['shardKey', 'keyColumns', 'reference']
// Names reach SQL only through knex's identifier quoting; the pattern keeps
// declarations to what both dialects accept unquoted, optionally schema-qualified.
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/

/**
 * Validates the `tables` option; every problem is a {@link ConfigError} naming
 * its field, e.g. `tables.orders.keyColumns`.
 */
export function resolveTables(input: unknown): ResolvedTables {
  const tables = new Map<string, ResolvedTable>()
  if (input === undefined) return tables
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError('tables', 'must be an object mapping table names to { shardKey } or { reference: true }')
  }
  for (const [name, declaration] of Object.entries(input)) {
    const field = `tables.${name}`
    if (!TABLE_NAME.test(name)) throw new ConfigError(field, 'table names must be SQL identifiers, optionally schema-qualified')
    tables.set(name, resolveTable(field, name, declaration))
  }
  return tables
}

function resolveTable(field: string, name: string, input: unknown): ResolvedTable {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(field, 'must be { shardKey } or { reference: true }')
  }
  const declaration = input as Record<string, unknown>
  rejectUnknownKeys(field, declaration, TABLE_KEYS)
  const { shardKey, keyColumns, reference } = declaration
  if (reference !== undefined) {
    if (reference !== true) throw new ConfigError(`${field}.reference`, 'must be true (leave it out for a sharded table)')
    if (shardKey !== undefined || keyColumns !== undefined) {
      throw new ConfigError(`${field}.shardKey`, 'a reference table is copied on every shard and has no shard key')
    }
    return { name, kind: 'reference' }
  }
  if (typeof shardKey === 'string') {
    if (!COLUMN_NAME.test(shardKey)) throw new ConfigError(`${field}.shardKey`, 'must be a column name or a function')
    if (keyColumns !== undefined) {
      throw new ConfigError(`${field}.keyColumns`, 'only goes with a function shardKey; a column shardKey is its own key column')
    }
    return { name, kind: 'sharded', keyColumns: [shardKey], keyOf: (values) => values[shardKey] }
  }
  if (typeof shardKey === 'function') {
    const columns = resolveKeyColumns(`${field}.keyColumns`, keyColumns)
    const fn = shardKey as (row: Record<string, unknown>) => unknown
    return { name, kind: 'sharded', keyColumns: columns, keyOf: (values) => fn(values) }
  }
  throw new ConfigError(`${field}.shardKey`, 'must be a column name or a function (or declare { reference: true })')
}

function resolveKeyColumns(field: string, input: unknown): string[] {
  if (input === undefined) {
    throw new ConfigError(field, 'is required with a function shardKey: list the columns the function reads, so filters can be routed')
  }
  if (!Array.isArray(input) || input.length === 0) throw new ConfigError(field, 'must list at least one column')
  const seen = new Set<string>()
  for (const [i, column] of input.entries()) {
    if (typeof column !== 'string' || !COLUMN_NAME.test(column)) throw new ConfigError(`${field}[${i}]`, 'must be a column name')
    if (seen.has(column.toLowerCase())) throw new ConfigError(`${field}[${i}]`, `duplicate column "${column}"`)
    seen.add(column.toLowerCase())
  }
  return [...input] as string[]
}
