import { type Condition, type FilterValue, isColumn } from './query-state.js'
import { RoutingError } from './routing-error.js'
import type { TableRouter } from './table-router.js'

/**
 * Past this many key combinations a composite-key filter is not worth hashing
 * one by one; it is treated as not pinning the key (a fan-out, still correct).
 */
export const MAX_KEY_COMBINATIONS = 10_000

/**
 * The shards a filter restricts a statement to, and why.
 */
export interface PinnedShards {
  shards: string[]
  reason: string
}

/**
 * The shards that can hold rows matching `conditions`, or undefined when the
 * filter does not pin every key column to listed values (`=` or `whereIn`).
 * Conditions are ANDed, so any one `=`/`whereIn` on a key column bounds its
 * values; the shortest list is used.
 */
export function shardsPinnedBy(router: TableRouter, conditions: readonly Condition[]): PinnedShards | undefined {
  const { table } = router
  if (table.kind !== 'sharded') return undefined
  const choices: (readonly FilterValue[])[] = []
  for (const keyColumn of table.keyColumns) {
    let best: readonly FilterValue[] | undefined
    for (const condition of conditions) {
      if (!isColumn(condition.column, keyColumn)) continue
      const values = condition.kind === 'eq' ? [condition.value] : condition.kind === 'in' ? condition.values : undefined
      if (values !== undefined && (best === undefined || values.length < best.length)) best = values
    }
    if (best === undefined) return undefined
    choices.push(best)
  }
  const count = choices.reduce((n, values) => n * values.length, 1)
  if (choices.length > 1 && count > MAX_KEY_COMBINATIONS) return undefined
  const owners = new Set<string>()
  forEachCombination(table.keyColumns, choices, (values) => owners.add(router.shardFor(table.keyOf(values))))
  const what = table.keyColumns.length === 1 ? table.keyColumns[0] : `(${table.keyColumns.join(', ')})`
  const plural = count === 1 ? '' : 's'
  return {
    shards: router.shardIds.filter((id) => owners.has(id)),
    reason: `the filter pins ${what} to ${count} ${table.keyColumns.length === 1 ? 'value' : 'combination'}${plural}`,
  }
}

/**
 * The shard that owns an inserted row. The key function sees only the key
 * columns, exactly as a filter would give them.
 */
export function shardOfRow(router: TableRouter, row: Record<string, unknown>, index: number): string {
  const { table } = router
  if (table.kind !== 'sharded') throw new Error(`shardOfRow: ${table.name} is a reference table`)
  const values: Record<string, unknown> = {}
  for (const column of table.keyColumns) {
    const value = row[column]
    if (value === undefined || value === null) {
      throw new RoutingError('MISSING_SHARD_KEY', table.name, `row ${index} has no value for the shard-key column ${column}`)
    }
    values[column] = value
  }
  return router.shardFor(table.keyOf(values))
}

function forEachCombination(
  columns: readonly string[],
  choices: readonly (readonly FilterValue[])[],
  visit: (values: Record<string, unknown>) => void,
): void {
  const values: Record<string, unknown> = {}
  const walk = (i: number): void => {
    if (i === columns.length) return visit({ ...values })
    for (const value of choices[i]!) {
      values[columns[i]!] = value
      walk(i + 1)
    }
  }
  walk(0)
}
