import type { Knex } from 'knex'
import { Branch, type BranchOwner } from './branch.js'
import { type ClusterRuntime, participantOf } from './cluster-runtime.js'
import { ClosedError, TransactionTimeoutError } from './errors.js'
import { branchIdOf } from './ids/branch-id.js'
import { newTransactionId } from './ids/transaction-id.js'
import type { Logger } from './logger.js'
import type { BranchOptions } from './participant.js'
import { ShardedQuery } from './sharded-tables/sharded-query.js'
import { transactionAccess } from './sharded-tables/shard-access.js'
import { tableRouter } from './sharded-tables/table-router.js'
import { functionOption } from './config/function-option.js'
import { fenceEnabled } from './topology/fence-switch.js'
import type { Routing } from './topology/routing.js'

/** Where a transaction is in its life. */
export type TransactionState = 'active' | 'committing' | 'rolling back' | 'finished'

/**
 * One unit of work across shards, handed to the callback of
 * `cluster.transaction()`. Branches open on first use of a shard.
 *
 * ```ts
 * await cluster.transaction(async (tx) => {
 *   await tx.forKey('user:42')('accounts').where({ id: 42 }).decrement('balance', 10)
 *   await tx.forShard('pg-0')('ledger').insert({ id: tx.id, amount: 10 })
 * })
 * ```
 */
export class Transaction implements BranchOwner {
  /** Unique across processes and time; it names the branches on the servers. */
  readonly id: string
  /** After this instant (ms since epoch) the transaction never decides commit. */
  readonly deadline: number
  readonly #runtime: ClusterRuntime
  readonly #branchOptions: BranchOptions
  /** Taken once: every branch presents the epoch of the ring the transaction routes by. */
  readonly #routing: Routing
  readonly #branches = new Map<string, Branch>()
  #state: TransactionState = 'active'
  #abortReason: TransactionTimeoutError | undefined
  #onAbort: ((reason: TransactionTimeoutError) => void) | undefined
  #logger: Logger | undefined
  #afterCommit: (() => unknown)[] | undefined
  #afterRollback: (() => unknown)[] | undefined

  /** @internal Made by the cluster. */
  constructor(runtime: ClusterRuntime, timeoutMs: number, branchOptions: BranchOptions) {
    const startedAt = Date.now()
    this.id = newTransactionId(startedAt, timeoutMs)
    this.deadline = startedAt + timeoutMs
    this.#runtime = runtime
    this.#routing = runtime.topology.current
    this.#branchOptions = fenceEnabled() ? { ...branchOptions, fenceEpoch: this.#routing.epoch } : branchOptions
  }

  /** A knex instance bound to this transaction's branch on shard `shardId`. */
  forShard(shardId: string): Knex {
    return this.branch(shardId).knex
  }

  /** A knex instance bound to the branch on the shard that owns `key`. */
  forKey(key: string | number | bigint | Uint8Array): Knex {
    this.assertAcceptsStatements()
    return this.branch(this.#routing.ring.shardFor(key)).knex
  }

  /**
   * Runs `hook` once the transaction has committed (after the decision; recovery
   * may still be finishing a branch). Hooks run in order and are awaited; an error
   * in one is logged, never thrown. Nothing runs when the outcome is in doubt.
   *
   * ```ts
   * tx.afterCommit(() => cache.delete(`user:${id}`))
   * ```
   */
  afterCommit(hook: () => unknown): void {
    this.assertAcceptsStatements()
    ;(this.#afterCommit ??= []).push(functionOption('afterCommit(hook)', hook))
  }

  /** Runs `hook` once the transaction has rolled back everywhere; see {@link afterCommit}. */
  afterRollback(hook: () => unknown): void {
    this.assertAcceptsStatements()
    ;(this.#afterRollback ??= []).push(functionOption('afterRollback(hook)', hook))
  }

  /** @internal */
  async runOutcomeHooks(outcome: 'committed' | 'rolled back' | 'unknown'): Promise<void> {
    const hooks = outcome === 'committed' ? this.#afterCommit : outcome === 'rolled back' ? this.#afterRollback : undefined
    if (hooks === undefined) return
    for (const hook of hooks) {
      try {
        await hook()
      } catch (error) {
        this.logger.warn({ err: error, outcome }, 'a transaction outcome hook failed')
      }
    }
  }

  /**
   * A query builder on a table declared in the cluster's `tables` that routes
   * each statement to the shards owning its rows, inside this transaction;
   * see {@link ShardedQuery} and docs/sharded-tables.md.
   *
   * ```ts
   * await tx.table('accounts').where({ id: 1 }).decrement('balance', 10)
   * await tx.table('accounts').insert([{ id: 7, balance: 0 }, { id: 8, balance: 0 }])
   * ```
   */
  table<TRow extends object = Record<string, any>>(name: string): ShardedQuery<TRow> {
    this.assertAcceptsStatements()
    return new ShardedQuery<TRow>(tableRouter(this.#runtime, name), transactionAccess(this))
  }

  /** Shard ids this transaction has touched so far. */
  get shards(): string[] {
    return [...this.#branches.keys()]
  }

  get state(): TransactionState {
    return this.#state
  }

  /** @internal */
  branch(shardId: string): Branch {
    this.assertAcceptsStatements()
    let branch = this.#branches.get(shardId)
    if (branch === undefined) {
      branch = new Branch(this, participantOf(this.#runtime, shardId), branchIdOf(this.#runtime.config.prefix, this.id, shardId), this.#branchOptions)
      this.#branches.set(shardId, branch)
    }
    return branch
  }

  /** @internal Branches that sent BEGIN / XA START. */
  openedBranches(): Branch[] {
    const opened: Branch[] = []
    for (const branch of this.#branches.values()) if (branch.state !== 'new') opened.push(branch)
    return opened
  }

  /** @internal */
  noteStaleTopology(): void {
    this.#runtime.topology.invalidate()
  }

  assertAcceptsStatements(): void {
    if (this.#abortReason !== undefined) throw new ClosedError(`transaction ${this.id} (${this.#abortReason.message})`)
    if (this.#state !== 'active') throw new ClosedError(`transaction ${this.id} (${this.#state})`)
  }

  /** @internal Why the transaction was stopped from outside (timeout or signal), if it was. */
  get abortReason(): TransactionTimeoutError | undefined {
    return this.#abortReason
  }

  /** @internal */
  get logger(): Logger {
    this.#logger ??= this.#runtime.logger.child({ txId: this.id })
    return this.#logger
  }

  /** @internal */
  setState(state: TransactionState): void {
    this.#state = state
  }

  /**
   * @internal Stops the transaction from outside: later statements are refused,
   * running ones are cancelled, and the callback's promise loses the race.
   */
  abort(reason: TransactionTimeoutError): void {
    if (this.#abortReason !== undefined || this.#state === 'finished') return
    this.#abortReason = reason
    for (const branch of this.#branches.values()) {
      if (branch.busy && branch.conn !== undefined) {
        branch.participant.cancel(branch.conn).catch((error: unknown) => {
          this.logger.warn({ err: error, shardId: branch.shardId }, 'could not cancel a running statement')
        })
      }
    }
    this.#onAbort?.(reason)
  }

  /** @internal Runs the callback until it settles or the transaction is aborted. */
  runCallback<T>(work: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const aborted = new Promise<never>((_, reject) => {
      this.#onAbort = reject
    })
    return Promise.race([Promise.resolve().then(() => work(this)), aborted])
  }

  /** @internal Resolves once no branch has a statement running. */
  async settled(): Promise<void> {
    for (const branch of this.#branches.values()) await branch.settled()
  }
}

/** The reason given when the transaction's time is up. */
export function timeoutReason(timeoutMs: number): TransactionTimeoutError {
  return new TransactionTimeoutError(`timed out after ${timeoutMs} ms`)
}
