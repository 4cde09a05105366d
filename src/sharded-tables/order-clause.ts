import type { Knex } from 'knex'
import { traitsOf } from '../../adapters/index.js'
import type { Dialect } from '../config/shard-config.js'
import type { OrderTerm } from './query-state.js'

/**
 * Adds ORDER BY terms that put NULLs where each term asks on every dialect, so
 * each shard's order (and so its share of a pushed-down LIMIT) agrees with the
 * merge. Where the server's own NULL placement already matches, a plain term is
 * sent (an index can serve it); otherwise a leading `(column IS NULL)` term. Not
 * knex's `nulls` argument: on MySQL it sorts only by the null flag, and for
 * descending terms it puts NULLs on the wrong side (knex 3.3).
 */
export function applyOrder(knex: Knex, builder: Knex.QueryBuilder, order: readonly OrderTerm[], dialect: Dialect): void {
  for (const term of order) {
    const largest = traitsOf(dialect).nullsSortAsLargest
    const native = (term.direction === 'asc') === largest ? 'last' : 'first'
    if (term.nulls !== native) builder.orderBy(knex.raw('(?? is null)', [term.column]) as never, term.nulls === 'last' ? 'asc' : 'desc')
    builder.orderBy(term.column, term.direction)
  }
}
