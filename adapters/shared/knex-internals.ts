import { createRequire } from 'node:module'
import type { Knex } from 'knex'
import queryMethods from 'knex/lib/query/method-constants.js'
import queryExecutioner from 'knex/lib/execution/internal/query-executioner.js'
import knexTimeout from 'knex/lib/util/timeout.js'
import { ShardTxError } from '../../src/errors.js'
import { IdleConnectionStack } from './idle-connection-stack.js'
import type { DriverConnection, KnexQuery, RunQuery } from '../../src/protocol/participant.js'
import { NotSentError } from './never-sent.js'

/**
 * The one file in shardtx that reaches into knex past its public API: its pool
 * (knex has no public way to take a raw connection out and give it back, which a
 * branch needs to run its whole life on one session), its cancel, its statement
 * sender, and the branch-bound knex instances, which compile builders with knex's
 * own compiler and send them on the branch's connection without knex's runner.
 * A knex upgrade is checked here: everything below names what it relies on.
 */

type Listeners = { listenerCount(event: string): number; emit(event: string, ...args: unknown[]): boolean }
type KnexClient = Knex.Client & Listeners & Record<string, unknown>
type Connection = DriverConnection & { __knexUid?: string; __knexTxId?: string; __knex__disposed?: unknown }

// ---------------------------------------------------------------------------
// The pool

/** Marks a connection knex's pool must drop, not reuse; knex logs this text when it does. */
export const DISCARD_MARKER = 'discarded by shardtx'

export function acquireConnection(knex: Knex): Promise<DriverConnection> {
  // A pool being destroyed never serves an acquire: tarn holds it until its timeout (maxWait).
  if ((knex.client.pool as { destroyed?: boolean } | undefined)?.destroyed === true) {
    return Promise.reject(new NotSentError('no connection: the pool is closing'))
  }
  return knex.client.acquireConnection() as Promise<DriverConnection>
}

export function releaseConnection(knex: Knex, conn: DriverConnection): void {
  void knex.client.releaseConnection(conn)
}

/** True when shardtx already gave `conn` back marked for closing. */
export function isDiscarded(conn: DriverConnection): boolean {
  return (conn as Connection).__knex__disposed === DISCARD_MARKER
}

/**
 * Gives a connection back marked disposed, so the pool drops it on its next
 * validation; `close` ends the driver's session first.
 */
export function discardConnection(knex: Knex, conn: DriverConnection, close: () => void): void {
  ;(conn as Connection).__knex__disposed = DISCARD_MARKER
  close()
  void knex.client.releaseConnection(conn)
}

/** Marks `conn` so that knex's pool destroys it instead of reusing it; `reason` shows in knex's warning. */
export function markDisposed(conn: DriverConnection, reason: string): void {
  ;(conn as Connection).__knex__disposed = reason
}

/**
 * Marks every idle connection of a knex pool for closing instead of reuse (knex's
 * pool checks the mark before handing a connection out), those on its idle stack too.
 */
export function disposeIdleConnections(knex: Knex, reason: string): void {
  idleStacks.get(knex.client)?.drain()
  const pool = (knex.client as { pool?: { free?: { resource: Connection }[] } }).pool
  for (const free of pool?.free ?? []) free.resource.__knex__disposed ??= reason
}

interface TarnPool {
  numPendingAcquires(): number
}

const idleStacks = new WeakMap<object, IdleConnectionStack<Connection>>()
const resolved = Promise.resolve()

/**
 * Puts an {@link IdleConnectionStack} in front of knex's pool (tarn) for every
 * acquire and release of `knex`: its runner, its transactions, branches. A
 * connection is reused from the stack when it passes the check knex's pool would
 * make (not marked disposed, and the dialect's `validateConnection`). Where that
 * check cannot be made synchronously (a `pool.validate` hook, a connection
 * lifetime, connection settings given as a function), or the pool is not tarn,
 * the pool is left as it is.
 * `knex.destroy()` drains the stack first.
 */
export function stackIdleConnections(knex: Knex): void {
  const client = knex.client as unknown as KnexClient & { pool?: TarnPool }
  const config = client.config as Knex.Config & { pool?: Record<string, unknown> }
  if (typeof client.pool?.numPendingAcquires !== 'function') return // not knex's own pool (tarn)
  if (typeof config.connection === 'function' || config.pool?.validate !== undefined || config.pool?.maxConnectionLifetimeMillis !== undefined) return
  const acquire = client.acquireConnection as () => Promise<Connection>
  const release = client.releaseConnection as (conn: Connection) => Promise<void>
  const destroy = client.destroy as (callback?: unknown) => Promise<void>
  const stack = new IdleConnectionStack<Connection>({
    acquire: () => acquire.call(client),
    release: (conn) => void release.call(client, conn),
    waiting: () => client.pool?.numPendingAcquires() ?? 0,
    // A dialect whose check answers with a promise has its connections go back to the pool.
    reusable: (conn) => !conn.__knex__disposed && (client.validateConnection as (conn: Connection) => unknown)(conn) === true,
  })
  idleStacks.set(client, stack)
  // Once the pool is gone (destroyed), knex's own acquire and release answer as they always did.
  client.acquireConnection = function () {
    const idle = client.pool === undefined ? undefined : stack.take()
    if (idle === undefined) return acquire.call(client)
    if (debugClient.enabled) debugClient('acquired connection from pool: %s', idle.__knexUid)
    return Promise.resolve(idle)
  } as never
  client.releaseConnection = function (conn: Connection) {
    if (client.pool === undefined) return release.call(client, conn)
    if (debugClient.enabled) debugClient('releasing connection to pool: %s', conn.__knexUid)
    stack.release(conn)
    return resolved
  } as never
  client.destroy = function (callback?: unknown) {
    stack.close()
    return destroy.call(client, callback)
  } as never
}

/**
 * Makes every acquire of `knex` that fails (for its runner, migrator or schema builder)
 * fail with `as(error)` instead: the server refusing the connection (a login, an
 * unknown database, another protocol on that port) otherwise reaches the caller as
 * the driver's own error, which nothing above tells from a statement's.
 */
export function mapAcquireErrors(knex: Knex, as: (error: unknown) => unknown): void {
  const client = knex.client as unknown as KnexClient
  const acquire = client.acquireConnection as () => Promise<Connection>
  client.acquireConnection = function () {
    return acquire.call(client).catch((error: unknown) => {
      throw as(error)
    })
  } as never
}

/** How many connections given back sit on the idle stack in front of knex's pool (which counts them as in use). */
export function connectionsOnIdleStack(knex: Knex): number {
  return idleStacks.get(knex.client)?.size ?? 0
}

/** The connections a knex pool has handed out and not had back. */
export function connectionsInUse<C>(knex: Knex): C[] {
  const pool = (knex.client as { pool?: { used?: { resource: C }[] } }).pool
  return (pool?.used ?? []).map((used) => used.resource)
}

/** The connections idle in knex's pool (tarn's free list). */
export function freeConnections<C>(knex: Knex): C[] {
  const pool = (knex.client as { pool?: { free?: { resource: C }[] } }).pool
  return (pool?.free ?? []).map((free) => free.resource)
}

/** Cancels the statement running on `conn`, from another connection. */
export async function cancelQuery(knex: Knex, conn: DriverConnection): Promise<void> {
  await knex.client.cancelQuery(conn)
}

/** Replaces how the pool closes a connection (knex's `destroyRawConnection`). */
export function closeConnectionsWith<C>(knex: Knex, close: (conn: C) => Promise<void>): void {
  knex.client.destroyRawConnection = close as never
}

/** The settings `knex` was made with. */
export function configOf(knex: Knex): Knex.Config {
  return knex.client.config as Knex.Config
}

/**
 * Wraps the statement sender of `knex` (its dialect's `_query`), which every
 * builder, raw query, transaction and migration of that instance goes through.
 */
export function wrapStatementSender(knex: Knex, wrap: (send: RunQuery, conn: DriverConnection, query: KnexQuery) => Promise<unknown>): void {
  const client = knex.client as unknown as KnexClient
  const original = client._query as (conn: DriverConnection, query: KnexQuery) => Promise<unknown>
  const send: RunQuery = (conn, query) => original.call(client, conn, query)
  client._query = (conn: DriverConnection, query: KnexQuery) => wrap(send, conn, query)
}

// ---------------------------------------------------------------------------
// Branch-bound knex instances

/** What a branch-bound knex needs from its branch. */
export interface BranchBinding {
  /** The branch's connection; the first call opens the branch. */
  acquire(): Promise<DriverConnection>
  /**
   * Sends a statement with `run` (which sets `query.response`, as knex's dialect
   * client does), beginning the branch with the first one.
   */
  runStatement(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown>
  /** Takes a statement that still waits for its turn out of the branch's queue (see Branch.withdraw); false once it was sent. */
  withdraw(query: KnexQuery, error: unknown): boolean
  /** Begins the branch alone, before a statement that cannot carry the BEGIN. */
  beginAlone(conn: DriverConnection): Promise<void>
  /** Called before each statement is sent: refuses, and records writes. */
  beforeStatement(sql: string, method: string | undefined): void
  /** Called when a statement settles; maps a server error to a typed one. */
  afterStatement(error: unknown): unknown
}

/** knex's compiled statement (`builder.toSQL()`), as far as the runner below reads it. */
interface CompiledQuery extends KnexQuery {
  method?: string
  timeout?: number
  cancelOnTimeout?: boolean
  queryContext?: unknown
  statementsProducer?: unknown
}

interface Builder extends Listeners {
  toSQL(): CompiledQuery | CompiledQuery[]
  queryContext(): unknown
  _debug?: boolean
}

/** What every branch client of one shard shares, made once per shard. */
interface SharedBranchClient extends KnexClient {
  /** The dialect's sender (knex's `_query`): sets `query.response` as knex's own `processResponse` expects it. */
  send: RunQuery
  /** knex's own runner, for streams. */
  knexRunner(builder: Builder): { stream(...args: unknown[]): unknown; pipe(...args: unknown[]): unknown }
  baseFn: Knex.FunctionHelper
  /** Whether anyone but knex itself listens to a client event (see {@link userListens}). */
  listens(event: ForwardedEvent): boolean
}

/** The client events a knex instance forwards to itself (`knex.on('query', …)`) through listeners of its own. */
type ForwardedEvent = 'query' | 'query-response' | 'query-error'

/** A knex client bound to one branch; the prototype chain gives it the shard's shared client, dialect, events and config. */
interface BranchClient extends SharedBranchClient {
  binding: BranchBinding
}

const { formatQuery } = queryExecutioner as {
  formatQuery(sql: string, bindings: unknown, timeZone: undefined, client: KnexClient): string
}
const { timeout, KnexTimeoutError } = knexTimeout as {
  timeout<T>(promise: Promise<T>, ms: number): Promise<T>
  KnexTimeoutError: new (message: string) => Error
}
// knex's own debug channels (DEBUG=knex:query,knex:bindings), taken from knex's copy of `debug`.
const requireFromKnex = createRequire(createRequire(import.meta.url).resolve('knex'))
const debug = requireFromKnex('debug') as (namespace: string) => ((...args: unknown[]) => void) & { enabled: boolean }
const debugQuery = debug('knex:query')
const debugBindings = debug('knex:bindings')
const debugClient = debug('knex:client')

const sharedClients = new WeakMap<object, SharedBranchClient>()

function sharedClientOf(base: Knex): SharedBranchClient {
  const existing = sharedClients.get(base.client)
  if (existing !== undefined) return existing
  const baseClient = base.client as unknown as KnexClient
  const shared = Object.create(baseClient) as SharedBranchClient
  const send = baseClient._query as (conn: DriverConnection, query: KnexQuery) => Promise<unknown>
  const stream = baseClient.stream as Function
  const runner = baseClient.runner as Function
  shared.send = (conn, query) => send.call(baseClient, conn, query)
  // knex adds one forwarding listener per event to its client; with nobody listening to the
  // instance either, the event's payload (a copy of the query object) need not be built.
  const knexInstance = base as unknown as Listeners & { _internalListeners?: { eventName: string }[] }
  const forwarders = (event: string): number => (knexInstance._internalListeners ?? []).filter((l) => l.eventName === event).length
  const own = { query: forwarders('query'), 'query-response': forwarders('query-response'), 'query-error': forwarders('query-error') }
  shared.listens = function (this: BranchClient, event: ForwardedEvent) {
    return this.listenerCount(event) > own[event] || knexInstance.listenerCount(event) > 0
  }
  shared.baseFn = base.fn
  shared.knexRunner = function (this: BranchClient, builder: Builder) {
    return runner.call(this, builder)
  }
  shared.runner = function (this: BranchClient, builder: Builder) {
    return new BranchRunner(this, builder)
  } as never
  shared.acquireConnection = function (this: BranchClient) {
    return this.binding.acquire()
  } as never
  shared.releaseConnection = neverRelease as never
  // Streams keep knex's runner: it owns the stream's life; this hook starts the branch first.
  shared.stream = function (this: BranchClient, conn: DriverConnection, obj: CompiledQuery | string, ...rest: unknown[]) {
    const binding = this.binding
    binding.beforeStatement(typeof obj === 'string' ? obj : obj.sql, 'select')
    const target = rest[0] as { destroy(error: Error): void } | undefined
    const start = (): unknown => {
      try {
        return stream.call(this, conn, obj, ...rest)
      } catch (error) {
        // Thrown before any query started (knex's pg dialect without the pg-query-stream
        // package): knex's runner has the connection by then, so it emits nothing on the
        // stream, and a reader would wait for the transaction's timeout. End it with the error.
        target?.destroy(error instanceof Error ? error : new Error(String(error)))
        throw error
      }
    }
    return binding.beginAlone(conn).then(start).then(
      (result: unknown) => {
        binding.afterStatement(undefined)
        return result
      },
      (error: unknown) => {
        throw binding.afterStatement(error)
      },
    )
  }
  sharedClients.set(base.client, shared)
  return shared
}

const neverRelease = (): Promise<void> => Promise.resolve()

/**
 * Runs a builder on its branch's connection: knex's compiler makes the SQL, the
 * dialect's sender sends it, and knex's `processResponse` and `postProcessResponse`
 * shape the result, so results are knex's own. What knex's Runner and its client's
 * `query` do around that (events, debug output, error text, `.timeout()`) is done
 * here in the same order, without its pool round trip and without building event
 * payloads nobody listens to.
 */
class BranchRunner {
  readonly client: BranchClient
  readonly builder: Builder
  connection: Connection | undefined

  constructor(client: BranchClient, builder: Builder) {
    this.client = client
    this.builder = builder
  }

  async run(): Promise<unknown> {
    const { client, builder } = this
    try {
      this.connection = (await client.binding.acquire()) as Connection
      client.emit('start', builder)
      builder.emit('start', builder)
      const compiled = builder.toSQL()
      if (builder._debug) (client.logger as { debug(message: unknown): void }).debug(compiled)
      const result = Array.isArray(compiled) ? await this.#queryArray(compiled) : await this.#query(compiled)
      builder.emit('end')
      return result
    } catch (error) {
      if (builder.listenerCount('error') > 0) builder.emit('error', error)
      throw error
    }
  }

  stream(...args: unknown[]): unknown {
    return this.client.knexRunner(this.builder).stream(...args)
  }

  pipe(...args: unknown[]): unknown {
    return this.client.knexRunner(this.builder).pipe(...args)
  }

  /** A schema builder's statements, one after the other, as knex's `queryArray` runs them. */
  async #queryArray(queries: CompiledQuery[]): Promise<unknown> {
    if (queries.some((q) => q.statementsProducer !== undefined)) {
      throw new ShardTxError('this schema change needs knex to run it in a transaction of its own, which a shardtx branch cannot do', { code: 'UNSUPPORTED' })
    }
    if (queries.length === 1) return this.#query(queries[0]!)
    const results: unknown[] = []
    for (const query of queries) results.push(await this.#query(query))
    return results
  }

  async #query(query: CompiledQuery): Promise<unknown> {
    const { client, builder } = this
    const conn = this.connection!
    if (builder.listenerCount('query') > 0) builder.emit('query', withConnectionIds(conn, query))
    const queryContext = builder.queryContext()
    query.queryContext = queryContext
    // Refused statements are refused before anything is sent or reported as sent.
    client.binding.beforeStatement(query.sql, query.method)
    let sending = send(client, conn, query)
    if (query.timeout) sending = timeout(sending, query.timeout)
    try {
      const response = await sending
      let processed = (client.processResponse as Function)(response, this) as unknown
      if (processed instanceof Promise) processed = await processed
      const result = client.postProcessResponse(processed, queryContext) as unknown
      if (builder.listenerCount('query-response') > 0) builder.emit('query-response', result, withConnectionIds(conn, query), builder)
      if (client.listens('query-response')) client.emit('query-response', result, withConnectionIds(conn, query), builder)
      return result
    } catch (error) {
      const failure = error instanceof KnexTimeoutError ? await this.#timedOut(query, error) : error
      if (builder.listenerCount('query-error') > 0) {
        builder.emit('query-error', failure, Object.assign({ __knexUid: conn.__knexUid, __knexTxId: conn.__knexTxId, queryContext }, query))
      }
      throw failure
    }
  }

  /**
   * A statement past its `.timeout()`: cancelled when asked, else its connection is
   * marked for closing (as knex does). One still waiting for its turn on the branch
   * is only taken out of the queue: nothing of it runs, and the statement that does
   * run must not be cancelled in its place.
   */
  async #timedOut(query: CompiledQuery, error: Error): Promise<unknown> {
    const conn = this.connection!
    const { timeout: ms, sql, bindings } = query
    const message = `Defined query timeout of ${ms}ms exceeded before the query was sent (it waited behind another on the branch).`
    // The queued send fails with an error of its own: its handler rewrites that one's message, not the caller's.
    if (this.client.binding.withdraw(query, new KnexTimeoutError(message))) {
      return Object.assign(error, { message, sql, bindings, timeout: ms })
    }
    try {
      if (query.cancelOnTimeout) await (this.client.cancelQuery as Function)(conn)
      else conn.__knex__disposed = error
    } catch (cancelError) {
      conn.__knex__disposed = error
      return Object.assign(cancelError as Error, {
        message: `After query timeout of ${ms}ms exceeded, cancelling of query failed.`,
        sql,
        bindings,
        timeout: ms,
      })
    }
    return Object.assign(error, { message: `Defined query timeout of ${ms}ms exceeded when running query.`, sql, bindings, timeout: ms })
  }
}

/** knex's client `query`: bindings made native, the `query` event, then the branch sends it. */
async function send(client: BranchClient, conn: Connection, query: CompiledQuery): Promise<unknown> {
  const binding = client.binding
  let response: unknown
  try {
    query.bindings = client.prepBindings(query.bindings as never) as unknown[]
    query.sql = client.positionBindings(query.sql)
    if (client.listens('query')) client.emit('query', withConnectionIds(conn, query))
    if (debugQuery.enabled) debugQuery(query.sql.replace(/%/g, '%%'), conn.__knexTxId)
    if (debugBindings.enabled) debugBindings(query.bindings, conn.__knexTxId)
    try {
      response = await binding.runStatement(conn, query, client.send)
    } catch (error) {
      // knex's error text: the statement with its values, then the server's message.
      if (error !== null && typeof error === 'object') {
        const failed = error as { message: string }
        const statement = client.config?.compileSqlOnError === false ? query.sql : formatQuery(query.sql, query.bindings, undefined, client)
        failed.message = `${statement} - ${failed.message}`
      }
      if (client.listens('query-error')) client.emit('query-error', error, withConnectionIds(conn, query))
      throw error
    }
  } catch (error) {
    throw binding.afterStatement(error)
  }
  binding.afterStatement(undefined)
  return response
}

function withConnectionIds(conn: Connection, query: CompiledQuery): object {
  return Object.assign({ __knexUid: conn.__knexUid, __knexTxId: conn.__knexTxId }, query)
}

const refuse = (what: string) =>
  function (): never {
    throw new ShardTxError(`${what} is not available on a shardtx branch: the branch is already a transaction`, {
      code: 'UNSUPPORTED',
    })
  }

interface BranchKnex {
  client: BranchClient
}

/** The methods every branch-bound knex shares; `this` is the knex function, holding its client. */
const branchKnexPrototype: Record<string, unknown> = Object.create(Function.prototype)
for (const method of queryMethods) {
  branchKnexPrototype[method] = function (this: BranchKnex, ...args: unknown[]) {
    const builder = this.client.queryBuilder() as unknown as Record<string, Function>
    return builder[method]!(...args)
  }
}
Object.assign(branchKnexPrototype, {
  raw(this: BranchKnex, ...args: unknown[]) {
    return (this.client.raw as Function)(...args)
  },
  ref(this: BranchKnex, name: string) {
    return this.client.ref(name)
  },
  queryBuilder(this: BranchKnex) {
    return this.client.queryBuilder()
  },
  transaction: refuse('transaction()'),
  transactionProvider: refuse('transactionProvider()'),
  destroy: refuse('destroy()'),
  initialize: refuse('initialize()'),
})
Object.defineProperties(branchKnexPrototype, {
  schema: {
    get(this: BranchKnex) {
      return this.client.schemaBuilder()
    },
  },
  fn: {
    get(this: BranchKnex) {
      return this.client.baseFn
    },
  },
})

/**
 * A knex instance bound to one branch: `k('table')`, every query-builder
 * starter, `raw`, `ref`, `fn` and `schema` run on the branch's connection and
 * never send BEGIN/COMMIT. `transaction`, `destroy` and migrations are refused.
 * Making one costs two small objects: the rest is shared per shard.
 */
export function createBranchKnex(base: Knex, binding: BranchBinding): Knex {
  const client = Object.create(sharedClientOf(base)) as BranchClient
  client.binding = binding
  const knex = tableStarter(client) as BranchKnex & Knex
  Object.setPrototypeOf(knex, branchKnexPrototype)
  knex.client = client
  return knex
}

/** `knex('table')`. An unnamed function: a named one gets its name set on every call where names are kept (tsx, esbuild). */
function tableStarter(client: BranchClient): Function {
  return function (tableName?: string, options?: unknown) {
    const builder = client.queryBuilder()
    return tableName === undefined ? builder : builder.table(tableName, options as never)
  }
}
