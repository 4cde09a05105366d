import type { Knex } from 'knex'
import { applyConditions } from './filter-conditions.js'
import { applyOrder } from './order-clause.js'
import type { QueryState } from './query-state.js'
import type { RoutePlan } from './route-plan.js'
import { sortRows } from './row-order.js'
import type { ShardAccess } from './shard-access.js'
import type { TableRouter } from './table-router.js'

type Row = Record<string, unknown>

/**
 * Runs a planned read. On one shard the whole query runs there. On several,
 * each shard runs the filter, the order and a LIMIT of offset + limit, in
 * parallel; the rows are concatenated in shard order, sorted by the order terms,
 * and cut to offset and limit.
 */
export async function runRead(router: TableRouter, access: ShardAccess, plan: RoutePlan, state: QueryState): Promise<Row[]> {
  if (plan.shards.length === 0) return []
  const merging = plan.shards.length > 1
  const results = await Promise.all(
    plan.shards.map((shardId) => shardQuery(access.reader(shardId), router, shardId, state, merging) as PromiseLike<Row[]>),
  )
  if (!merging) return results[0]!
  const rows = results.flat()
  if (state.order.length > 0) sortRows(router.table.name, rows, state.order)
  const start = state.offset ?? 0
  return rows.slice(start, state.limit === undefined ? undefined : start + state.limit)
}

function shardQuery(knex: Knex, router: TableRouter, shardId: string, state: QueryState, merging: boolean): Knex.QueryBuilder {
  const builder = knex(router.table.name)
  applyConditions(builder, state.conditions)
  if (state.columns === undefined) builder.select()
  else builder.select(state.columns)
  applyOrder(knex, builder, state.order, router.dialectOf(shardId))
  if (state.lock === 'update') builder.forUpdate()
  else if (state.lock === 'share') builder.forShare()
  if (merging) {
    // The offset applies to the merged rows, so each shard must supply the first offset + limit of its own.
    if (state.limit !== undefined) builder.limit((state.offset ?? 0) + state.limit)
  } else {
    if (state.limit !== undefined) builder.limit(state.limit)
    if (state.offset !== undefined) builder.offset(state.offset)
  }
  return builder
}
