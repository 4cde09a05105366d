import type { Knex } from 'knex'
import { ShardUnresponsiveError } from '../errors.js'
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
export async function runRead(router: TableRouter, access: ShardAccess, makePlan: () => RoutePlan, state: QueryState): Promise<Row[]> {
  // Outside a transaction the read runs in one of its own, planned inside it: routed by the
  // topology that transaction's branches present to the fences.
  if (access.fenced !== undefined) return access.fenced((inner) => runRead(router, inner, makePlan, state))
  const plan = makePlan()
  if (plan.shards.length === 0) return []
  const merging = plan.shards.length > 1
  const timeoutMs = access.readTimeoutMs?.()
  const results = await Promise.all(
    plan.shards.map((shardId) => {
      const query = shardQuery(access.reader(shardId), router, shardId, state, merging)
      return timeoutMs === undefined ? (query as PromiseLike<Row[]>) : bounded(router, query, shardId, timeoutMs)
    }),
  )
  if (!merging) return results[0]!
  const rows = results.flat()
  if (state.order.length > 0) sortRows(router.table.name, rows, state.order)
  const start = state.offset ?? 0
  return rows.slice(start, state.limit === undefined ? undefined : start + state.limit)
}

/**
 * A read outside a transaction, bounded by the cluster's `timeout`: knex closes the
 * connection of a read that missed it (it never goes back into use).
 */
async function bounded(router: TableRouter, query: Knex.QueryBuilder, shardId: string, ms: number): Promise<Row[]> {
  try {
    return (await query.timeout(ms)) as Row[]
  } catch (error) {
    // A query timeout carries its bound; a pool-wait timeout (the same class) does not.
    if ((error as Error).name === 'KnexTimeoutError' && (error as { timeout?: unknown }).timeout !== undefined) {
      throw new ShardUnresponsiveError(shardId, 'a read', ms)
    }
    throw router.unavailable(shardId, 'a read failed', error)
  }
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
