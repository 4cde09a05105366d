import type { Knex } from 'knex'
import queryMethods from 'knex/lib/query/method-constants.js'
import { ShardTxError } from '../errors.js'
import type { DriverConnection, KnexQuery, RunQuery } from '../protocol/participant.js'

/** What a branch-bound knex needs from its branch. */
export interface BranchBinding {
  /** The branch's connection; the first call opens the branch. */
  acquire(): Promise<DriverConnection>
  /** Sends a statement through knex's own `run`, beginning the branch with the first one. */
  runStatement(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown>
  /** Begins the branch alone, before a statement that cannot carry the BEGIN. */
  beginAlone(conn: DriverConnection): Promise<void>
  /** Called before each statement is sent: refuses, and records writes. */
  beforeStatement(sql: string, method: string | undefined): void
  /** Called when a statement settles; maps a server error to a typed one. */
  afterStatement(error: unknown): unknown
}

type KnexClient = Knex.Client & Record<string, unknown>
type QueryObject = { sql: string; method?: string } | string

const neverRelease = (): Promise<void> => Promise.resolve()

/**
 * A knex client that runs every builder on the branch's connection and never
 * sends BEGIN/COMMIT: the same move knex makes for its own transactions, minus
 * the transaction. It shares the base client's pool, dialect and events through
 * the prototype, so making one costs one small object.
 */
function branchClient(base: KnexClient, binding: BranchBinding): KnexClient {
  const client = Object.create(base) as KnexClient
  client.acquireConnection = () => binding.acquire()
  client.releaseConnection = neverRelease
  client.query = function (this: KnexClient, conn: DriverConnection, obj: QueryObject) {
    const sql = typeof obj === 'string' ? obj : obj.sql
    binding.beforeStatement(sql, typeof obj === 'string' ? 'raw' : obj.method)
    return (base.query as Function).call(this, conn, obj).then(
      (result: unknown) => {
        binding.afterStatement(undefined)
        return result
      },
      (error: unknown) => {
        throw binding.afterStatement(error)
      },
    )
  }
  client._query = function (this: KnexClient, conn: DriverConnection, obj: KnexQuery) {
    return binding.runStatement(conn, obj, (query) => (base._query as Function).call(this, conn, query))
  }
  client.stream = function (this: KnexClient, conn: DriverConnection, obj: QueryObject, ...rest: unknown[]) {
    binding.beforeStatement(typeof obj === 'string' ? obj : obj.sql, 'select')
    const done = binding.beginAlone(conn).then(() => (base.stream as Function).call(this, conn, obj, ...rest))
    return done.then(
      (result: unknown) => {
        binding.afterStatement(undefined)
        return result
      },
      (error: unknown) => {
        throw binding.afterStatement(error)
      },
    )
  }
  return client
}

const refuse = (what: string) =>
  function (): never {
    throw new ShardTxError(`${what} is not available on a shardtx branch: the branch is already a transaction`, {
      code: 'UNSUPPORTED',
    })
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
      return this.baseFn
    },
  },
})

interface BranchKnex {
  client: KnexClient
  baseFn: Knex.FunctionHelper
}

/**
 * A knex instance bound to one branch: `k('table')`, every query-builder
 * starter, `raw`, `ref`, `fn` and `schema` run on the branch's connection.
 * `transaction`, `destroy` and migrations are refused.
 */
export function createBranchKnex(base: Knex, binding: BranchBinding): Knex {
  const client = branchClient(base.client as KnexClient, binding)
  const knex = function (tableName?: string, options?: unknown) {
    const builder = client.queryBuilder()
    return tableName === undefined ? builder : builder.table(tableName, options as never)
  } as unknown as BranchKnex & Knex
  Object.setPrototypeOf(knex, branchKnexPrototype)
  knex.client = client
  knex.baseFn = base.fn
  return knex
}
