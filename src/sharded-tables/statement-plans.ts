import { shardOfRow, shardsPinnedBy } from './key-routing.js'
import { mayBeColumn, type QueryState, resultKey } from './query-state.js'
import type { RouteOperation, RoutePlan } from './route-plan.js'
import { RoutingError } from './routing-error.js'
import type { TableRouter } from './table-router.js'

/**
 * Options of a write on a declared table.
 *
 * ```ts
 * await tx.table('accounts').where({ frozen: true }).del({ allShards: true })
 * ```
 */
export interface WriteOptions {
  /**
   * Allow a write whose filter does not pin the shard key. It runs on every
   * shard (locking rows, or gaps, on each), so it has to be asked for.
   */
  allShards?: boolean
}

/**
 * Routes a read: the owning shards when the filter pins the key, else every shard.
 */
export function planRead(router: TableRouter, operation: 'select' | 'first', state: QueryState): RoutePlan {
  const { table } = router
  assertOrderIsInResult(table.name, state)
  const base = { table: table.name, operation }
  if (table.kind === 'reference') {
    return { ...base, route: 'reference-read', shards: [router.referenceShardId], reason: 'a reference table is read from the log shard' }
  }
  const pinned = shardsPinnedBy(router, state.conditions)
  if (pinned !== undefined) return { ...base, route: 'shard-key', ...pinned }
  const after = [
    state.order.length > 0 ? `ordered by ${state.order.map((t) => `${t.key} ${t.direction}`).join(', ')}` : undefined,
    state.offset !== undefined ? `offset ${state.offset}` : undefined,
    state.limit !== undefined ? `limit ${state.limit}` : undefined,
  ].filter((part) => part !== undefined)
  return {
    ...base,
    route: 'fan-out',
    shards: [...router.shardIds],
    reason:
      `the filter does not pin the shard key (${table.keyColumns.join(', ')}): every shard is read and the rows concatenated` +
      (after.length === 0 ? '' : `, then ${after.join(', ')}`),
  }
}

/**
 * Routes an update, increment, decrement or delete. Refuses to set a key column
 * and, unless `allShards`, to write without pinning the key.
 */
export function planWrite(
  router: TableRouter,
  operation: Exclude<RouteOperation, 'select' | 'first' | 'insert'>,
  state: QueryState,
  setColumns: readonly string[],
  options: WriteOptions,
): RoutePlan {
  const { table } = router
  if (state.order.length > 0 || state.limit !== undefined || state.offset !== undefined || state.lock !== undefined) {
    throw new RoutingError('INVALID_QUERY', table.name, `orderBy, limit, offset and row locks apply to reads, not to ${operation}`)
  }
  const base = { table: table.name, operation }
  if (table.kind === 'reference') {
    return { ...base, route: 'reference-write', shards: [...router.shardIds], reason: 'a reference table is written on every shard' }
  }
  for (const column of setColumns) {
    const keyColumn = table.keyColumns.find((k) => mayBeColumn(column, k))
    if (keyColumn !== undefined) {
      throw new RoutingError(
        'SHARD_KEY_UPDATE',
        table.name,
        `${operation} would change the shard-key column ${keyColumn}, which would move the row to another shard; delete it and insert it anew`,
      )
    }
  }
  const pinned = shardsPinnedBy(router, state.conditions)
  if (pinned !== undefined) return { ...base, route: 'shard-key', ...pinned }
  if (options.allShards === true) {
    return {
      ...base,
      route: 'all-shards',
      shards: [...router.shardIds],
      reason: `the filter does not pin the shard key (${table.keyColumns.join(', ')}); allShards sends it to every shard`,
    }
  }
  throw new RoutingError(
    'ALL_SHARDS_WRITE',
    table.name,
    `${operation} without the shard key (${table.keyColumns.join(', ')}) in its filter would lock every shard; ` +
      'filter on the key, or pass { allShards: true }',
  )
}

/**
 * An insert's plan and the rows each shard gets.
 */
export interface InsertPlan {
  plan: RoutePlan
  rowsByShard: Map<string, Record<string, unknown>[]>
}

/**
 * Routes an insert: each row to the shard owning its key (a reference table:
 * every row to every shard).
 */
export function planInsert(router: TableRouter, rows: readonly Record<string, unknown>[]): InsertPlan {
  const { table } = router
  const base = { table: table.name, operation: 'insert' as const }
  const rowsByShard = new Map<string, Record<string, unknown>[]>()
  if (table.kind === 'reference') {
    if (rows.length > 0) for (const id of router.shardIds) rowsByShard.set(id, [...rows])
    return {
      plan: { ...base, route: 'reference-write', shards: [...rowsByShard.keys()], reason: 'a reference table is written on every shard' },
      rowsByShard,
    }
  }
  rows.forEach((row, i) => {
    const shardId = shardOfRow(router, row, i)
    let group = rowsByShard.get(shardId)
    if (group === undefined) rowsByShard.set(shardId, (group = []))
    group.push(row)
  })
  const shards = router.shardIds.filter((id) => rowsByShard.has(id))
  return {
    plan: {
      ...base,
      route: 'row-keys',
      shards,
      reason: `each row goes to the shard owning its key: ${shards.map((id) => `${rowsByShard.get(id)!.length} to ${id}`).join(', ') || 'no rows'}`,
    },
    rowsByShard: new Map(shards.map((id) => [id, rowsByShard.get(id)!])),
  }
}

// Rows from several shards are sorted by their values after the merge: a column
// the merge cannot see cannot order them.
function assertOrderIsInResult(table: string, state: QueryState): void {
  if (state.columns === undefined) return
  const keys = new Set(state.columns.map(resultKey))
  for (const term of state.order) {
    if (!keys.has(term.key)) {
      throw new RoutingError('UNROUTABLE_QUERY', table, `orderBy(${term.column}) needs ${term.key} among the selected columns: rows from several shards are ordered by it after the merge`)
    }
  }
}
