import type { Knex } from 'knex'
import type { ComparisonOperator, Condition, FilterValue } from './query-state.js'
import { RoutingError } from './routing-error.js'

const OPERATORS = new Set<string>(['=', '<>', '!=', '<', '<=', '>', '>=', 'like', 'not like'])

/**
 * Turns the arguments of `where` / `andWhere` into conditions, or refuses what
 * cannot be inspected for routing (callbacks, raw SQL, sub-queries).
 */
export function conditionsOfWhere(table: string, args: readonly unknown[]): Condition[] {
  if (args.length === 1) {
    const [filter] = args
    if (!isPlainObject(filter)) {
      throw new RoutingError(
        'UNROUTABLE_QUERY',
        table,
        'where() takes an object, (column, value) or (column, operator, value); callbacks, raw SQL and sub-queries cannot be routed',
      )
    }
    return Object.entries(filter).map(([column, value]) => equality(table, column, value))
  }
  if (args.length === 2) return [equality(table, columnArg(table, args[0]), args[1])]
  if (args.length === 3) {
    const column = columnArg(table, args[0])
    const operator = String(args[1]).toLowerCase()
    if (!OPERATORS.has(operator)) {
      throw new RoutingError('INVALID_QUERY', table, `where() operator ${JSON.stringify(args[1])} is not one of ${[...OPERATORS].join(', ')}`)
    }
    if (operator === '=') return [equality(table, column, args[2])]
    if (args[2] === null && (operator === '<>' || operator === '!=')) return [{ kind: 'null', column, negated: true }]
    return [{ kind: 'compare', column, operator: operator as Exclude<ComparisonOperator, '='>, value: filterValue(table, column, args[2]) }]
  }
  throw new RoutingError('INVALID_QUERY', table, `where() takes 1 to 3 arguments, not ${args.length}`)
}

/**
 * The condition of `whereIn(column, values)`.
 */
export function conditionOfWhereIn(table: string, column: unknown, values: unknown): Condition {
  const name = columnArg(table, column)
  if (!Array.isArray(values)) {
    throw new RoutingError('UNROUTABLE_QUERY', table, 'whereIn() takes an array of values; sub-queries cannot be routed')
  }
  return { kind: 'in', column: name, values: values.map((v) => filterValue(table, name, v)) }
}

/**
 * Applies recorded conditions to a knex builder, ANDed, in order.
 */
export function applyConditions(builder: Knex.QueryBuilder, conditions: readonly Condition[]): Knex.QueryBuilder {
  for (const condition of conditions) {
    switch (condition.kind) {
      case 'eq':
        builder.where(condition.column, condition.value as Knex.Value)
        break
      case 'in':
        builder.whereIn(condition.column, condition.values as Knex.Value[])
        break
      case 'compare':
        builder.where(condition.column, condition.operator, condition.value as Knex.Value)
        break
      case 'null':
        if (condition.negated) builder.whereNotNull(condition.column)
        else builder.whereNull(condition.column)
        break
    }
  }
  return builder
}

/**
 * A column name argument, or a refusal.
 */
export function columnArg(table: string, column: unknown): string {
  if (typeof column !== 'string' || column.trim() === '') {
    throw new RoutingError('UNROUTABLE_QUERY', table, 'columns must be given by name; raw SQL and sub-queries cannot be routed')
  }
  return column
}

function equality(table: string, column: string, value: unknown): Condition {
  if (value === null) return { kind: 'null', column, negated: false }
  return { kind: 'eq', column, value: filterValue(table, column, value) }
}

function filterValue(table: string, column: string, value: unknown): FilterValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value
    case 'object':
      if (value instanceof Date || value instanceof Uint8Array) return value
      if (value !== null && !Array.isArray(value)) {
        throw new RoutingError('UNROUTABLE_QUERY', table, `the filter on ${column} got an object; raw SQL and sub-queries cannot be routed`)
      }
  }
  const got = value === undefined ? 'undefined' : value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
  throw new RoutingError(
    'INVALID_QUERY',
    table,
    `the filter on ${column} got ${got}; give a string, number, bigint, boolean, Date or bytes (whereIn for lists, whereNull for null)`,
  )
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
