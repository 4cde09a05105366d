import type { Knex } from 'knex'
import { applyConditions, columnArg, conditionOfWhereIn, conditionsOfWhere } from './filter-conditions.js'
import { type ComparisonOperator, copyState, type FilterValue, type QueryState, resultKey } from './query-state.js'
import type { RouteOperation, RoutePlan } from './route-plan.js'
import { RoutedStatement } from './routed-statement.js'
import { RoutingError } from './routing-error.js'
import { runRead } from './run-read.js'
import type { FencedAccess, ShardAccess } from './shard-access.js'
import { planInsert, planRead, planWrite, type WriteOptions } from './statement-plans.js'
import type { TableRouter } from './table-router.js'

/**
 * A filter object: column → value (`null` means IS NULL).
 *
 * ```ts
 * const f: Filter<{ id: number; owner: string }> = { id: 1, owner: 'alice' }
 * ```
 */
export type Filter<TRow> = { [K in keyof TRow]?: FilterValue | null }

type WriteOperation = Exclude<RouteOperation, 'select' | 'first' | 'insert'>

/**
 * A query builder on a table declared in the cluster's `tables`, from
 * `tx.table(name)` or `cluster.table(name)`. It records a small set of
 * operations and routes each statement by the shard key:
 * - `insert`: each row to the shard owning its key, one insert per shard, atomically;
 * - a filter pinning the key (`where({ key })`, `whereIn(key, …)`): only the owning shards;
 * - any other read: every shard, rows merged (`orderBy`, `offset`, `limit` applied after the merge);
 * - any other write: refused unless `{ allShards: true }`;
 * - setting a shard-key column: refused;
 * - reference tables: reads from the log shard, writes to every shard.
 * Filters are ANDed. Awaiting the builder runs the select; `explain()` tells where
 * a statement goes. What cannot be routed correctly (aggregates, groupBy, orWhere,
 * joins, raw SQL) throws a {@link RoutingError}.
 *
 * ```ts
 * await cluster.transaction(async (tx) => {
 *   await tx.table('accounts').where({ id: 1 }).decrement('balance', 10)
 *   await tx.table('accounts').where({ id: 2 }).increment('balance', 10)
 *   const rich = await tx.table('accounts').where('balance', '>', 1000).orderBy('balance', 'desc').limit(10)
 * })
 * ```
 */
export class ShardedQuery<TRow extends object = Record<string, any>> implements PromiseLike<TRow[]> {
  readonly #router: TableRouter
  readonly #access: ShardAccess | FencedAccess
  readonly #state: QueryState = {
    conditions: [],
    columns: undefined,
    order: [],
    limit: undefined,
    offset: undefined,
    lock: undefined,
  }

  /** @internal Use `tx.table(name)` or `cluster.table(name)`. */
  constructor(router: TableRouter, access: ShardAccess | FencedAccess) {
    this.#router = router
    this.#access = access
  }

  /** The declared table's name. */
  get tableName(): string {
    return this.#router.table.name
  }

  /**
   * Adds conditions, ANDed: an object of column → value, `(column, value)` or
   * `(column, operator, value)`. Only `=` on a shard-key column routes.
   */
  where(filter: Filter<TRow>): this
  where(column: keyof TRow & string, value: FilterValue | null): this
  where(column: keyof TRow & string, operator: ComparisonOperator, value: FilterValue | null): this
  where(...args: unknown[]): this {
    this.#state.conditions.push(...conditionsOfWhere(this.tableName, args))
    return this
  }

  /** The same as {@link ShardedQuery.where}: every condition is ANDed. */
  andWhere(filter: Filter<TRow>): this
  andWhere(column: keyof TRow & string, value: FilterValue | null): this
  andWhere(column: keyof TRow & string, operator: ComparisonOperator, value: FilterValue | null): this
  andWhere(...args: unknown[]): this {
    this.#state.conditions.push(...conditionsOfWhere(this.tableName, args))
    return this
  }

  /** `column IN (values)`; on a shard-key column it routes to the owners of the values (none for an empty list). */
  whereIn(column: keyof TRow & string, values: readonly FilterValue[]): this {
    this.#state.conditions.push(conditionOfWhereIn(this.tableName, column, values))
    return this
  }

  whereNull(column: keyof TRow & string): this {
    this.#state.conditions.push({ kind: 'null', column: columnArg(this.tableName, column), negated: false })
    return this
  }

  whereNotNull(column: keyof TRow & string): this {
    this.#state.conditions.push({ kind: 'null', column: columnArg(this.tableName, column), negated: true })
    return this
  }

  /** Columns to read (`'col'`, `'col as alias'`); none, or `'*'`, reads every column. */
  select(...columns: (string | readonly string[])[]): this {
    const names = columns.flat().map((c) => columnArg(this.tableName, c))
    this.#state.columns = names.length === 0 || (names.length === 1 && names[0] === '*') ? undefined : names
    return this
  }

  /**
   * Orders the result; NULLs come last ascending and first descending unless
   * `nulls` says otherwise, on every dialect. Across shards the merge sorts by the
   * values (see docs/sharded-tables.md for how types compare), so the column must
   * be in the result.
   */
  orderBy(column: keyof TRow & string, direction: 'asc' | 'desc' = 'asc', nulls?: 'first' | 'last'): this {
    const name = columnArg(this.tableName, column)
    const dir = String(direction).toLowerCase()
    if (dir !== 'asc' && dir !== 'desc') throw new RoutingError('INVALID_QUERY', this.tableName, `orderBy direction must be 'asc' or 'desc'`)
    if (nulls !== undefined && nulls !== 'first' && nulls !== 'last') {
      throw new RoutingError('INVALID_QUERY', this.tableName, `orderBy nulls must be 'first' or 'last'`)
    }
    this.#state.order.push({ column: name, key: resultKey(name), direction: dir, nulls: nulls ?? (dir === 'asc' ? 'last' : 'first') })
    return this
  }

  limit(count: number): this {
    this.#state.limit = this.#count('limit', count)
    return this
  }

  offset(count: number): this {
    this.#state.offset = this.#count('offset', count)
    return this
  }

  /**
   * Locks the rows read until the transaction ends (`FOR UPDATE`), on each shard
   * read. Outside a transaction each shard's lock ends with its statement.
   */
  forUpdate(): this {
    this.#state.lock = 'update'
    return this
  }

  /** Like {@link ShardedQuery.forUpdate}, with shared locks (`FOR SHARE` / `LOCK IN SHARE MODE`). */
  forShare(): this {
    this.#state.lock = 'share'
    return this
  }

  /** The first row (after ordering), or undefined. */
  first(...columns: (string | readonly string[])[]): RoutedStatement<TRow | undefined> {
    if (columns.length > 0) this.select(...columns)
    const state = { ...copyState(this.#state), limit: 1 }
    return new RoutedStatement(
      () => planRead(this.#router, 'first', state),
      async () => (await this.#planned((access) => runRead(this.#router, access, planRead(this.#router, 'first', state), state)))[0] as TRow | undefined,
    )
  }

  /** Where the select this builder runs when awaited goes, and why. */
  explain(): RoutePlan {
    return planRead(this.#router, 'select', this.#state)
  }

  then<A = TRow[], B = never>(
    onFulfilled?: ((value: TRow[]) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    const state = copyState(this.#state)
    const rows = this.#planned((access) => runRead(this.#router, access, planRead(this.#router, 'select', state), state) as Promise<TRow[]>)
    return rows.then(onFulfilled, onRejected)
  }

  /**
   * Inserts rows, each on the shard that owns its key, as one insert per shard
   * in parallel, all-or-nothing. Resolves with the number of rows inserted.
   */
  insert(rows: Partial<TRow> | readonly Partial<TRow>[]): RoutedStatement<number> {
    const list = (Array.isArray(rows) ? [...rows] : [rows]) as Record<string, unknown>[]
    list.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        throw new RoutingError('INVALID_QUERY', this.tableName, `insert: row ${i} is not an object`)
      }
    })
    if (this.#state.conditions.length > 0 || this.#state.columns !== undefined || this.#state.order.length > 0) {
      throw new RoutingError('INVALID_QUERY', this.tableName, 'insert takes no where, select or orderBy')
    }
    const table = this.tableName
    return new RoutedStatement(
      () => planInsert(this.#router, list).plan,
      () =>
        this.#planned(async (access) => {
          const { plan, rowsByShard } = planInsert(this.#router, list)
          if (plan.shards.length === 0) return 0
          await access.writeEach(plan.shards, (knex, shardId) => knex(table).insert(rowsByShard.get(shardId)!))
          return list.length
        }),
    )
  }

  /** Updates the rows the filter matches; resolves with the number of rows the servers report. */
  update(values: Partial<TRow>, options: WriteOptions = {}): RoutedStatement<number> {
    if (values === null || typeof values !== 'object' || Object.keys(values).length === 0) {
      throw new RoutingError('INVALID_QUERY', this.tableName, 'update takes an object of at least one column')
    }
    return this.#write('update', Object.keys(values), options, (b) => b.update(values as Record<string, never>))
  }

  /** Adds `amount` (default 1) to `column` of the rows the filter matches. */
  increment(column: keyof TRow & string, amount = 1, options: WriteOptions = {}): RoutedStatement<number> {
    const name = columnArg(this.tableName, column)
    return this.#write('increment', [name], options, (b) => b.increment(name, amount))
  }

  /** Subtracts `amount` (default 1) from `column` of the rows the filter matches. */
  decrement(column: keyof TRow & string, amount = 1, options: WriteOptions = {}): RoutedStatement<number> {
    const name = columnArg(this.tableName, column)
    return this.#write('decrement', [name], options, (b) => b.decrement(name, amount))
  }

  /** Deletes the rows the filter matches; resolves with their number. */
  del(options: WriteOptions = {}): RoutedStatement<number> {
    return this.#write('delete', [], options, (b) => b.del())
  }

  /** The same as {@link ShardedQuery.del}. */
  delete(options: WriteOptions = {}): RoutedStatement<number> {
    return this.del(options)
  }

  // Refused: each would need more than concatenating rows from several shards.
  /** Refused: aggregates across shards are not a concatenation. Use `tx.forKey(key)(table)` on one shard. */
  count(..._args: unknown[]): never {
    return this.#refuse('count()', 'aggregates')
  }
  /** Refused, as {@link ShardedQuery.count}. */
  sum(..._args: unknown[]): never {
    return this.#refuse('sum()', 'aggregates')
  }
  /** Refused, as {@link ShardedQuery.count}. */
  avg(..._args: unknown[]): never {
    return this.#refuse('avg()', 'aggregates')
  }
  /** Refused, as {@link ShardedQuery.count}. */
  min(..._args: unknown[]): never {
    return this.#refuse('min()', 'aggregates')
  }
  /** Refused, as {@link ShardedQuery.count}. */
  max(..._args: unknown[]): never {
    return this.#refuse('max()', 'aggregates')
  }
  /** Refused: groups span shards. */
  groupBy(..._args: unknown[]): never {
    return this.#refuse('groupBy()', 'groups')
  }
  /** Refused: groups span shards. */
  having(..._args: unknown[]): never {
    return this.#refuse('having()', 'groups')
  }
  /** Refused: duplicates span shards. */
  distinct(..._args: unknown[]): never {
    return this.#refuse('distinct()', 'duplicates')
  }
  /** Refused: an OR can lift the shard-key restriction; use whereIn on the key, or two queries. */
  orWhere(..._args: unknown[]): never {
    return this.#refuse('orWhere()', 'OR conditions')
  }
  /** Refused: joined rows may live on other shards. Join by hand on one shard with `tx.forKey(key)`. */
  join(..._args: unknown[]): never {
    return this.#refuse('join()', 'joins')
  }

  #write(
    operation: WriteOperation,
    setColumns: string[],
    options: WriteOptions,
    apply: (builder: Knex.QueryBuilder) => Knex.QueryBuilder,
  ): RoutedStatement<number> {
    const state = copyState(this.#state)
    const table = this.tableName
    const router = this.#router
    return new RoutedStatement(
      () => planWrite(router, operation, state, setColumns, options),
      () =>
        this.#planned(async (access) => {
          const plan = planWrite(router, operation, state, setColumns, options)
          if (plan.shards.length === 0) return 0
          const counts = await access.writeEach(plan.shards, (knex) => apply(applyConditions(knex(table), state.conditions)) as PromiseLike<unknown>)
          // A reference table holds the same rows on every shard: report one shard's count, not their sum.
          if (plan.route === 'reference-write') return Number(counts[plan.shards.indexOf(router.referenceShardId)])
          return counts.reduce<number>((sum, n) => sum + Number(n), 0)
        }),
    )
  }

  /**
   * Plans and runs a statement. Outside a transaction both happen inside one of its
   * own, so the statement is routed by the topology its branches present to the
   * fences (a plan made before would route by whatever this process knew then).
   */
  #planned<T>(run: (access: ShardAccess) => Promise<T>): Promise<T> {
    return 'fenced' in this.#access ? this.#access.fenced(run) : run(this.#access)
  }

  #count(what: string, count: number): number {
    if (!Number.isSafeInteger(count) || count < 0) throw new RoutingError('INVALID_QUERY', this.tableName, `${what} must be an integer ≥ 0`)
    return count
  }

  #refuse(what: string, kind: string): never {
    throw new RoutingError(
      'UNROUTABLE_QUERY',
      this.tableName,
      `${what} is not supported: ${kind} across shards cannot be assembled by concatenating rows; ` +
        'query one shard with tx.forKey(key) / tx.forShard(id), or each shard and combine the results yourself',
    )
  }
}
