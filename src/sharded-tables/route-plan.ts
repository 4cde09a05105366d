/**
 * What a statement on a declared table does, as `explain()` reports it.
 *
 * ```ts
 * const op: RouteOperation = 'update'
 * ```
 */
export type RouteOperation = 'select' | 'first' | 'insert' | 'update' | 'increment' | 'decrement' | 'delete'

/**
 * Why a statement goes where it goes:
 * - `shard-key`: the filter pins the shard key, so only the owning shards;
 * - `row-keys`: an insert, each row to the shard that owns its key;
 * - `fan-out`: a read whose filter does not pin the key: every shard, rows merged;
 * - `all-shards`: a write whose filter does not pin the key, allowed with `{ allShards: true }`;
 * - `reference-read` / `reference-write`: a reference table, read on one shard, written on all.
 *
 * ```ts
 * if (plan.route === 'fan-out') console.warn('reads every shard')
 * ```
 */
export type Route = 'shard-key' | 'row-keys' | 'fan-out' | 'all-shards' | 'reference-read' | 'reference-write'

/**
 * The routing decision for one statement: which shards it will touch and why.
 * Made without any I/O, by the same code that routes the statement when it runs.
 *
 * ```ts
 * tx.table('accounts').whereIn('id', [1, 2]).explain()
 * // { table: 'accounts', operation: 'select', route: 'shard-key', shards: ['pg-0', 'my-1'],
 * //   reason: 'the filter pins id to 2 values' }
 * ```
 */
export interface RoutePlan {
  readonly table: string
  readonly operation: RouteOperation
  readonly route: Route
  /** The shards the statement is sent to, in configuration order; empty when it cannot match a row. */
  readonly shards: readonly string[]
  /** One sentence for people. */
  readonly reason: string
}
