import { Branch, type BranchOwner } from './branch.js'
import { type ClusterRuntime, participantOf } from '../cluster-runtime.js'
import type { DetectableTransaction } from '../contention/deadlock-detector.js'
import { type HeldSession, type WaitLabel, waitLabel } from '../contention/wait-label.js'
import { ClosedError, type ConflictError, type ShardTxError } from '../errors.js'
import { branchIdOf } from '../protocol/ids/branch-id.js'
import { MAX_TIMEOUT_MS, newTransactionId } from '../protocol/ids/transaction-id.js'
import type { Knex } from 'knex'
import type { Logger } from '../logger.js'
import type { BranchOptions } from '../protocol/participant.js'
import { msUntil } from '../protocol/deadline.js'
import { ShardedQuery } from '../sharded-tables/sharded-query.js'
import { transactionAccess } from '../sharded-tables/shard-access.js'
import { tableRouter } from '../sharded-tables/table-router.js'
import { functionOption } from '../config/validate.js'
import { Transaction, type TransactionInside, type TransactionState } from './transaction.js'
import { fenceEnabled } from '../topology/fence-switch.js'
import { routeKey, type Routing } from '../topology/routing.js'

/** When an outcome hook runs. */
export type Outcome = 'committed' | 'rolled back' | 'unknown'

/**
 * The inside of one transaction: its branches, its state, the reason it was
 * stopped from outside. The coordinator and the run loop work on this; the
 * callback only ever sees {@link transaction}, the public facade.
 */
export class TransactionContext implements BranchOwner, TransactionInside, DetectableTransaction {
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
  #abortReason: ShardTxError | undefined
  #onAbort: ((reason: ShardTxError) => void) | undefined
  #onAborted: (() => void) | undefined
  #label: WaitLabel | undefined
  #labelledSessions = 0
  #logger: Logger | undefined
  readonly #hooks: Record<Exclude<Outcome, 'unknown'>, (() => unknown)[]> = { committed: [], 'rolled back': [] }

  /**
   * A retried attempt names its first attempt's start time (`firstStartedAt`) in its
   * id, for the deadlock detector's victim choice; the timeout in the id then runs
   * from that time to this attempt's deadline, so the id still tells recovery the
   * latest moment this coordinator may decide.
   */
  constructor(runtime: ClusterRuntime, timeoutMs: number, branchOptions: BranchOptions, firstStartedAt?: number) {
    const startedAt = Date.now()
    this.deadline = startedAt + timeoutMs
    const aged = firstStartedAt !== undefined && firstStartedAt < startedAt && this.deadline - firstStartedAt <= MAX_TIMEOUT_MS
    this.id = aged ? newTransactionId(firstStartedAt, this.deadline - firstStartedAt) : newTransactionId(startedAt, timeoutMs)
    this.runtime = runtime
    this.#routing = runtime.topology.current
    this.#branchOptions = fenceEnabled() ? { ...branchOptions, fenceEpoch: this.#routing.epoch } : branchOptions
    this.transaction = new Transaction(this)
  }

  /**
   * The log shard of the topology this transaction routes by: where it decides. A log
   * move holds every fence, so no branch of a transaction routed by the old log can
   * be undecided once the new one is in force (docs/moving-the-log.md).
   */
  get logShardId(): string {
    return this.#routing.topology.logShardId
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
    return this.branch(routeKey(this.#routing, key)).knex
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

  /** The conflict that rolled back one of its branches while the callback went on, if any (see Branch.doomedBy). */
  rolledBackBy(): ConflictError | undefined {
    for (const branch of this.#branches.values()) if (branch.doomedBy !== undefined) return branch.doomedBy
    return undefined
  }

  /** Branches that got a connection (and may have sent BEGIN / XA START). */
  openedBranches(): Branch[] {
    const opened: Branch[] = []
    for (const branch of this.#branches.values()) if (branch.state !== 'new') opened.push(branch)
    return opened
  }

  noneBegun(): boolean {
    for (const branch of this.#branches.values()) if (branch.begun) return false
    return true
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

  connectionWaited(shardId: string, ms: number): void {
    this.runtime.telemetry.connectionWaited(shardId, ms)
  }

  /** Why the transaction was stopped from outside (timeout, signal, deadlock detector), if it was. */
  get abortReason(): ShardTxError | undefined {
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
  abort(reason: ShardTxError): void {
    if (this.#abortReason !== undefined || this.#state === 'finished') return
    this.#abortReason = reason
    for (const branch of this.#branches.values()) {
      branch.cancelRunning().catch((error: unknown) => {
        this.logger.warn({ err: error, shardId: branch.shardId }, 'could not cancel a running statement')
      })
    }
    this.#onAbort?.(reason)
    this.#onAborted?.()
  }

  /** For the deadlock detector: each connected branch's session, and since when a statement runs there. */
  sessions(): { shardId: string; session: string; busySince: number | undefined }[] {
    const sessions = []
    for (const branch of this.#branches.values()) {
      const source = branch.participant.lockWaits
      if (branch.conn === undefined || source === undefined) continue
      sessions.push({ shardId: branch.shardId, session: source.sessionOf(branch.conn), busySince: branch.busySince })
    }
    return sessions
  }

  /**
   * The label its statements show other sessions, or undefined when deadlock
   * detection is off. It lists the sessions held on shards whose idle sessions show
   * no label, and changes only when one more such session is opened.
   */
  waitLabel(): WaitLabel | undefined {
    if (this.runtime.contention.detector === undefined) return undefined
    let count = 0
    for (const branch of this.#branches.values()) if (labelless(branch)) count++
    if (this.#label === undefined || count !== this.#labelledSessions) {
      const held: HeldSession[] = []
      for (const branch of this.#branches.values()) {
        if (labelless(branch)) held.push({ shardId: branch.shardId, session: branch.participant.lockWaits!.sessionOf(branch.conn!) })
      }
      this.#label = waitLabel(this.id, held)
      this.#labelledSessions = count
    }
    return this.#label
  }

  /**
   * Runs the callback until it settles or the transaction is aborted, whichever
   * comes first (one promise settled by either, not a race of two: fewer promises
   * on every transaction). The callback starts a microtask later, so that what it
   * throws at once rejects like what it throws later.
   */
  runCallback<T>(work: (tx: Transaction) => Promise<T> | T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#onAbort = reject
      RESOLVED.then(() => work(this.transaction)).then(resolve, reject)
    })
  }

  /**
   * Resolves once no branch has a statement running or a connection opening.
   * Without a deadline it also resolves once the transaction is aborted (its timeout
   * fired). With one (ms since epoch), a branch still busy then is abandoned, its
   * connection closed: a statement whose cancel cannot reach its shard must not hold
   * the caller past the bound. Undefined when there is nothing to wait for.
   */
  settle(deadline?: number): Promise<void> | undefined {
    const branches = [...this.#branches.values()]
    // Nothing to wait for (the usual case): no promise at all.
    if (branches.every((b) => b.idle) || (deadline === undefined && this.#abortReason !== undefined)) return undefined
    return this.#settling(branches, deadline)
  }

  async #settling(branches: Branch[], deadline: number | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const idle = Promise.all(branches.map((b) => b.settled()))
    const stop =
      deadline === undefined
        ? new Promise<void>((resolve) => (this.#onAborted = resolve))
        : new Promise<void>((resolve) => (timer = setTimeout(resolve, msUntil(deadline))))
    await Promise.race([idle, stop])
    clearTimeout(timer)
    this.#onAborted = undefined
    if (deadline !== undefined) for (const branch of branches) branch.abandonIfBusy()
  }
}

const RESOLVED = Promise.resolve()

/** A connected branch on a shard whose idle sessions show no label: its session goes in the label. */
function labelless(branch: Branch): boolean {
  return branch.conn !== undefined && branch.participant.lockWaits?.idleSessionsShowLabel === false
}
