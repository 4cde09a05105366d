/**
 * A value a filter compares a column with. Shard-key columns route by the value
 * as given (see `cluster.shardFor`): pass keys in the form they are stored in.
 *
 * ```ts
 * const v: FilterValue = 42
 * ```
 */
export type FilterValue = string | number | bigint | boolean | Date | Uint8Array

/**
 * Comparison operators `where(column, operator, value)` accepts. Only `=` pins
 * a shard key; the others filter without routing.
 *
 * ```ts
 * tx.table('accounts').where('balance', '>=', 100)
 * ```
 */
export type ComparisonOperator = '=' | '<>' | '!=' | '<' | '<=' | '>' | '>=' | 'like' | 'not like'

/**
 * One ANDed condition of a filter, as recorded.
 */
export type Condition =
  | { kind: 'eq'; column: string; value: FilterValue }
  | { kind: 'in'; column: string; values: readonly FilterValue[] }
  | { kind: 'compare'; column: string; operator: Exclude<ComparisonOperator, '='>; value: FilterValue }
  | { kind: 'null'; column: string; negated: boolean }

/**
 * One `orderBy` term. `key` is the property of a result row that holds the column.
 */
export interface OrderTerm {
  column: string
  key: string
  direction: 'asc' | 'desc'
  nulls: 'first' | 'last'
}

/**
 * Everything a builder recorded, short of the statement itself.
 */
export interface QueryState {
  conditions: Condition[]
  /** Selected columns; undefined selects every column. */
  columns: string[] | undefined
  order: OrderTerm[]
  limit: number | undefined
  offset: number | undefined
  /** Row locks the read takes on every shard it reads. */
  lock: 'update' | 'share' | undefined
}

/**
 * An independent copy, so that a statement is not changed by later calls on its builder.
 */
export function copyState(state: QueryState): QueryState {
  return {
    conditions: [...state.conditions],
    columns: state.columns === undefined ? undefined : [...state.columns],
    order: [...state.order],
    limit: state.limit,
    offset: state.offset,
    lock: state.lock,
  }
}

/**
 * The property of a result row that a selected or ordered column lands in:
 * `'b.balance as amount'` → `amount`, `'b.balance'` → `balance`.
 */
export function resultKey(column: string): string {
  const alias = /\s+as\s+/i.exec(column)
  const name = alias === null ? column : column.slice(alias.index + alias[0].length)
  return name.slice(name.lastIndexOf('.') + 1).trim()
}

/**
 * True when `column` (maybe table-qualified) is `keyColumn`. Filters match the
 * name exactly: missing a match only costs a fan-out, while matching a different
 * column would route wrongly.
 */
export function isColumn(column: string, keyColumn: string): boolean {
  return column.slice(column.lastIndexOf('.') + 1) === keyColumn
}

/**
 * True when `column` may be `keyColumn` on some server: MariaDB column names
 * ignore case. Updates are refused on this looser match, since missing one
 * would move a row to the wrong shard.
 */
export function mayBeColumn(column: string, keyColumn: string): boolean {
  return column.slice(column.lastIndexOf('.') + 1).toLowerCase() === keyColumn.toLowerCase()
}
