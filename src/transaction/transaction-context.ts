import { Branch, type BranchOwner } from './branch.js'
import { type ClusterRuntime, participantOf } from '../cluster-runtime.js'
import { ClosedError, type TransactionTimeoutError } from '../errors.js'
import { branchIdOf } from '../protocol/ids/branch-id.js'
import { newTransactionId } from '../protocol/ids/transaction-id.js'
import type { Knex } from 'knex'
import type { Logger } from '../logger.js'
import type { BranchOptions } from '../protocol/participant.js'
import { ShardedQuery } from '../sharded-tables/sharded-query.js'
import { transactionAccess } from '../sharded-tables/shard-access.js'
import { tableRouter } from '../sharded-tables/table-router.js'
import { functionOption } from '../config/validate.js'
import { Transaction, type TransactionInside, type TransactionState } from './transaction.js'
import { fenceEnabled } from '../topology/fence-switch.js'
import type { Routing } from '../topology/routing.js'

/** When an outcome hook runs. */
export type Outcome = 'committed' | 'rolled back' | 'unknown'

/**
 * The inside of one transaction: its branches, its state, the reason it was
 * stopped from outside. The coordinator and the run loop work on this; the
 * callback only ever sees {@link transaction}, the public facade.
 */
export class TransactionContext implements BranchOwner, TransactionInside {
  /** Unique across processes and time; it names the branches on the servers. */
  readonly id: string
  /** After this instant (ms since epoch) the transaction never decides commit. */
  readonly deadline: number
  readonly runtime: ClusterRuntime
  /** The public face handed to the callback. */
  readonly transaction: Transaction
  readonly #branchOptions: BranchOptions
  /** Taken once: every branch presents the epoch of the ring the transaction routes by. */
  readonly #routing: Routing
  readonly #branches = new Map<string, Branch>()
  #state: TransactionState = 'active'
  #abortReason: TransactionTimeoutError | undefined
  #onAbort: ((reason: TransactionTimeoutError) => void) | undefined
  #logger: Logger | undefined
  readonly #hooks: Record<Exclude<Outcome, 'unknown'>, (() => unknown)[]> = { committed: [], 'rolled back': [] }

  constructor(runtime: ClusterRuntime, timeoutMs: number, branchOptions: BranchOptions) {
    const startedAt = Date.now()
    this.id = newTransactionId(startedAt, timeoutMs)
    this.deadline = startedAt + timeoutMs
    this.runtime = runtime
    this.#routing = runtime.topology.current
    this.#branchOptions = fenceEnabled() ? { ...branchOptions, fenceEpoch: this.#routing.epoch } : branchOptions
    this.transaction = new Transaction(this)
  }

  get state(): TransactionState {
    return this.#state
  }

  setState(state: TransactionState): void {
    this.#state = state
  }

  /** Shard ids touched so far, in first-use order. */
  get shards(): string[] {
    return [...this.#branches.keys()]
  }

  forShard(shardId: string): Knex {
    return this.branch(shardId).knex
  }

  forKey(key: string | number | bigint | Uint8Array): Knex {
    this.assertAcceptsStatements()
    return this.branch(this.#routing.ring.shardFor(key as string)).knex
  }

  table<TRow extends object>(name: string): ShardedQuery<TRow> {
    this.assertAcceptsStatements()
    return new ShardedQuery<TRow>(tableRouter(this.runtime, name), transactionAccess(this))
  }

  /** The branch on `shardId`, made on first use. */
  branch(shardId: string): Branch {
    this.assertAcceptsStatements()
    let branch = this.#branches.get(shardId)
    if (branch === undefined) {
      branch = new Branch(this, participantOf(this.runtime, shardId), branchIdOf(this.runtime.config.prefix, this.id, shardId), this.#branchOptions)
      this.#branches.set(shardId, branch)
    }
    return branch
  }

  /** Branches that got a connection (and may have sent BEGIN / XA START). */
  openedBranches(): Branch[] {
    const opened: Branch[] = []
    for (const branch of this.#branches.values()) if (branch.state !== 'new') opened.push(branch)
    return opened
  }

  beforeFirstBranch(shardId: string): Promise<void> | undefined {
    return this.runtime.topology.fenceIfUnfenced(shardId)
  }

  /** A shard refused a branch as routed by another topology epoch: reload before the next transaction. */
  noteStaleTopology(): void {
    this.runtime.topology.invalidate()
  }

  assertAcceptsStatements(): void {
    if (this.#abortReason !== undefined) throw new ClosedError(`transaction ${this.id} (${this.#abortReason.message})`)
    if (this.#state !== 'active') throw new ClosedError(`transaction ${this.id} (${this.#state})`)
  }

  /** Why the transaction was stopped from outside (timeout or signal), if it was. */
  get abortReason(): TransactionTimeoutError | undefined {
    return this.#abortReason
  }

  get logger(): Logger {
    this.#logger ??= this.runtime.logger.child({ txId: this.id })
    return this.#logger
  }

  addOutcomeHook(outcome: Exclude<Outcome, 'unknown'>, hook: () => unknown): void {
    this.assertAcceptsStatements()
    this.#hooks[outcome].push(functionOption(outcome === 'committed' ? 'afterCommit(hook)' : 'afterRollback(hook)', hook))
  }

  /** Runs the hooks of `outcome` in order; an error in one is logged, never thrown. */
  async runOutcomeHooks(outcome: Outcome): Promise<void> {
    if (outcome === 'unknown') return
    for (const hook of this.#hooks[outcome]) {
      try {
        await hook()
      } catch (error) {
        this.logger.warn({ err: error, outcome }, 'a transaction outcome hook failed')
      }
    }
  }

  /**
   * Stops the transaction from outside: later statements are refused,
   * running ones are cancelled, and the callback's promise loses the race.
   */
  abort(reason: TransactionTimeoutError): void {
    if (this.#abortReason !== undefined || this.#state === 'finished') return
    this.#abortReason = reason
    for (const branch of this.#branches.values()) {
      branch.cancelRunning().catch((error: unknown) => {
        this.logger.warn({ err: error, shardId: branch.shardId }, 'could not cancel a running statement')
      })
    }
    this.#onAbort?.(reason)
  }

  /** Runs the callback until it settles or the transaction is aborted. */
  runCallback<T>(work: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const aborted = new Promise<never>((_, reject) => {
      this.#onAbort = reject
    })
    return Promise.race([Promise.resolve().then(() => work(this.transaction)), aborted])
  }

  /** Resolves once no branch has a statement running. */
  async settled(): Promise<void> {
    for (const branch of this.#branches.values()) await branch.settled()
  }
}
