import type { Knex } from 'knex'
import { createBranchKnex, type BranchBinding } from './branch-knex.js'
import { ConflictError, ForbiddenStatementError, ShardTxError, ShardUnavailableError, StaleTopologyError } from './errors.js'
import type { BranchId } from './ids/branch-id.js'
import type { BranchOptions, DriverConnection, KnexQuery, Participant, RunQuery } from './participant.js'
import { describeShardError } from './shard-error-text.js'
import { findTransactionControl } from './statement-guard.js'

/** Statements knex marks as reads; anything else, raw SQL included, counts as a write. */
const READ_METHODS = new Set(['select', 'first', 'pluck', 'columnInfo'])

/**
 * `new` → `active` (it holds a connection; BEGIN / XA START goes with its first
 * statement) → `prepared` → `finished`;
 * `finished` also after a one-phase commit or a rollback.
 */
export type BranchState = 'new' | 'active' | 'prepared' | 'finished'

/** What a branch asks of its transaction. */
export interface BranchOwner {
  /** Throws when the transaction no longer takes statements. */
  assertAcceptsStatements(): void
  /** A shard refused the branch as routed by another topology epoch (even if the caller swallows the error). */
  noteStaleTopology(): void
}

/**
 * One shard's part of a transaction: its connection, whether it wrote, and the
 * knex instance the caller builds queries with. It opens lazily, on first use.
 */
export class Branch implements BranchBinding {
  readonly id: BranchId
  readonly participant: Participant
  readonly knex: Knex
  state: BranchState = 'new'
  /** BEGIN / XA START was sent (with the first statement). */
  begun = false
  wrote = false
  conn: DriverConnection | undefined
  readonly #owner: BranchOwner
  readonly #options: BranchOptions
  #opening: Promise<DriverConnection> | undefined
  #inflight = 0
  #idle: (() => void) | undefined

  constructor(owner: BranchOwner, participant: Participant, id: BranchId, options: BranchOptions) {
    this.#owner = owner
    this.participant = participant
    this.id = id
    this.#options = options
    this.knex = createBranchKnex(participant.knex, this)
  }

  get shardId(): string {
    return this.id.shardId
  }

  acquire(): Promise<DriverConnection> {
    if (this.conn !== undefined) return Promise.resolve(this.conn)
    this.#opening ??= this.#open()
    return this.#opening
  }

  async #open(): Promise<DriverConnection> {
    this.#owner.assertAcceptsStatements()
    try {
      await this.participant.verify()
      this.conn = await this.participant.acquire()
    } catch (error) {
      this.#opening = undefined
      throw this.#unavailable('could not get a connection', error)
    }
    this.state = 'active'
    return this.conn
  }

  /**
   * Sends a statement. The first one carries the branch's BEGIN / XA START in the
   * same round trip; the branch counts as begun from the moment it is sent.
   */
  runStatement(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown> {
    if (this.begun) return run(query)
    this.begun = true
    return this.participant.beginWith(conn, this.id, this.#options, query, run)
  }

  /** Begins the branch on its own, for a statement that cannot carry it (a stream). */
  async beginAlone(conn: DriverConnection): Promise<void> {
    if (this.begun) return
    this.begun = true
    await this.participant.begin(conn, this.id, this.#options)
  }

  beforeStatement(sql: string, method: string | undefined): void {
    this.#owner.assertAcceptsStatements()
    const control = findTransactionControl(sql, this.participant.dialect)
    if (control !== undefined) throw new ForbiddenStatementError(this.shardId, control)
    if (method === undefined || !READ_METHODS.has(method)) this.wrote = true
    this.#inflight++
  }

  afterStatement(error: unknown): unknown {
    if (--this.#inflight === 0 && this.#idle !== undefined) {
      this.#idle()
      this.#idle = undefined
    }
    if (error === undefined) return undefined
    // knex prefixed the SQL (ours included) to the message: give the caller the error as it was made.
    if (error instanceof StaleTopologyError) {
      this.#owner.noteStaleTopology()
      return new StaleTopologyError(error.shardId, error.routedEpoch, error.shardEpoch)
    }
    const conflict = this.asConflict(error)
    if (conflict !== error) return conflict
    // A statement cut off by a lost connection or a vanished server gets a typed error naming the shard.
    if (!(error instanceof ShardTxError) && this.participant.isConnectionError(error)) {
      return this.#unavailable('lost the connection during a statement', error)
    }
    return error
  }

  /** `error` as a retryable ConflictError when the server resolved a conflict with it; else unchanged. */
  asConflict(error: unknown): unknown {
    if (error instanceof ShardTxError) return error
    const conflict = this.participant.classifyConflict(error)
    return conflict === undefined ? error : new ConflictError(this.shardId, conflict.serverCode, conflict.kind, error)
  }

  get busy(): boolean {
    return this.#inflight > 0
  }

  /** Resolves once no statement is running and the branch is not half-open. */
  async settled(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => {})
    if (this.#inflight === 0) return
    await new Promise<void>((resolve) => {
      const previous = this.#idle
      this.#idle = () => {
        previous?.()
        resolve()
      }
    })
  }

  #unavailable(what: string, error: unknown): unknown {
    if (error instanceof ShardTxError) return error
    return new ShardUnavailableError(this.shardId, `${what}: ${describeShardError(error)}`, error)
  }
}
