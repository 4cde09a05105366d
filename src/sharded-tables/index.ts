/**
 * Sharded tables: declare a shard key per table once, and let `tx.table(name)`
 * / `cluster.table(name)` route each statement. See `docs/sharded-tables.md`.
 */
export type { ComparisonOperator, FilterValue } from './query-state.js'
export type { Route, RouteOperation, RoutePlan } from './route-plan.js'
export { RoutedStatement } from './routed-statement.js'
export { RoutingError, type RoutingErrorCode } from './routing-error.js'
export { type Filter, ShardedQuery } from './sharded-query.js'
export type { WriteOptions } from './statement-plans.js'
export type { ReferenceTableDeclaration, ShardedTableDeclaration, TableDeclaration } from './table-declaration.js'
