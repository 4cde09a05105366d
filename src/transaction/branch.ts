import type { Knex } from 'knex'
import { createBranchKnex, type BranchBinding } from '../../adapters/shared/knex-internals.js'
import { ClosedError, ConflictError, ForbiddenStatementError, ShardTxError, ShardUnavailableError, ShardUnresponsiveError, StaleTopologyError } from '../errors.js'
import { withDeadline } from '../protocol/deadline.js'
import { UnsentStatementError } from '../protocol/unsent-statement.js'
import { lostConnection } from '../protocol/lost-connection.js'
import type { BranchId } from '../protocol/ids/branch-id.js'
import type { BranchDriver, BranchOptions, DriverConnection, ErrorClassification, KnexQuery, PreparedBranchListing, RunQuery } from '../protocol/participant.js'
import { describeShardError } from '../shard-error-text.js'
import type { WaitLabel } from '../contention/wait-label.js'
import { findTransactionControl } from './statement-guard.js'

/** Statements knex marks as reads; anything else, raw SQL included, counts as a write. */
const READ_METHODS = new Set(['select', 'first', 'pluck', 'columnInfo'])

/**
 * `new` → `active` (it holds a connection; BEGIN / XA START goes with its first
 * statement) → `prepared` → `finished`;
 * `finished` also after a one-phase commit or a rollback, and whenever the
 * branch gives up its connection: a branch still prepared on the server but
 * whose connection was closed is `finished` here and left to recovery.
 */
export type BranchState = 'new' | 'active' | 'prepared' | 'finished'

/** What a branch asks of its transaction. */
export interface BranchOwner {
  /** Throws when the transaction no longer takes statements. */
  assertAcceptsStatements(): void
  /** Why it was stopped from outside, if it was: a deadlock victim's statement fails with that. */
  readonly abortReason: ShardTxError | undefined
  /** The label statements carry for deadlock detection, or undefined when it is off. */
  waitLabel(): WaitLabel | undefined
  /** The branch waited `ms` for a connection of its shard's pool (for the pool-wait metric). */
  connectionWaited?(shardId: string, ms: number): void
  /** A shard refused the branch as routed by another topology epoch (even if the caller swallows the error). */
  noteStaleTopology?(): void
  /** No branch of the transaction has begun yet (sent BEGIN / XA START). */
  noneBegun?(): boolean
  /** Work to do once before the first branch on a shard (its fence row, when the topology load could not write it). */
  beforeFirstBranch?(shardId: string): Promise<void> | undefined
}

/** A statement that can bring a PostgreSQL transaction back from an error (after any comments): it is sent even behind one. */
const ROLLBACK_TO_SAVEPOINT = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*rollback\s+(?:work\s+|transaction\s+)?to\b/i

/**
 * One shard's part of a transaction: its connection, whether it wrote, and the
 * knex instance the caller builds queries with. It opens lazily, on first use.
 */
export class Branch implements BranchBinding {
  readonly id: BranchId
  /** The shard, in the roles a branch needs. */
  readonly participant: BranchDriver & ErrorClassification & Pick<PreparedBranchListing, 'finishPrepared'>
  readonly knex: Knex
  state: BranchState = 'new'
  /** BEGIN / XA START was sent (with the first statement). */
  begun = false
  wrote = false
  conn: DriverConnection | undefined
  /** performance.now() when the statement now running was sent; undefined while none runs. */
  busySince: number | undefined
  readonly #owner: BranchOwner
  readonly #options: BranchOptions
  #opening: Promise<DriverConnection> | undefined
  #inflight = 0
  /**
   * The conflict that rolled this branch back on the server while the transaction
   * went on (its caller caught the error): until a PostgreSQL ROLLBACK TO SAVEPOINT
   * undoes it, no statement is sent, and the transaction fails with it at commit.
   */
  doomedBy: ConflictError | undefined
  /** A statement was handed to the driver and is not yet answered (see runStatement). */
  #sending = false
  /** Statements waiting for the one being sent, in the order the caller issued them. */
  readonly #waiting: { query: KnexQuery; send: () => void; withdraw: (error: unknown) => void }[] = []
  #idle: (() => void) | undefined
  /** The transaction gave up on the branch while its connection was being opened. */
  #abandoned = false
  /**
   * A cancel went out for a statement of this branch, from another connection. It may
   * arrive after the statement ended, so the connection is closed, never pooled: a late
   * cancel must not hit the next transaction's statement on it (seen as 1317 on MariaDB).
   */
  #cancelSent = false
  /** The connection went back to the pool or was closed. */
  #letGo = false
  /** The server session of a PREPARE that got no answer: the branch may be prepared there. */
  #maybePrepared: string | undefined

  constructor(owner: BranchOwner, participant: BranchDriver & ErrorClassification & Pick<PreparedBranchListing, 'finishPrepared'>, id: BranchId, options: BranchOptions) {
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
      const verifying = this.participant.verify()
      if (verifying !== undefined) await verifying
      const asked = performance.now()
      const conn = await this.participant.acquire()
      this.#owner.connectionWaited?.(this.shardId, performance.now() - asked)
      // The transaction gave up on this branch while its connection was coming: pool it unused.
      if (this.#abandoned) {
        this.participant.release(conn)
        throw new ClosedError(`branch on shard ${this.shardId} (its transaction ended while the connection was opening)`)
      }
      this.conn = conn
    } catch (error) {
      this.#opening = undefined
      throw this.#unavailable('could not get a connection', error)
    }
    const fencing = this.#owner.beforeFirstBranch?.(this.shardId)
    if (fencing !== undefined) await fencing
    this.state = 'active'
    return this.conn
  }

  /**
   * Sends a statement. The first one carries the branch's BEGIN / XA START in the
   * same round trip; the branch counts as begun from the moment it is sent.
   *
   * One at a time: statements issued together (`Promise.all` on one shard) wait
   * here, in the order they were issued, for the one before them to be answered.
   * A connection runs them one after another anyway; handing pg a query while
   * another runs is deprecated (a warning on stderr) and goes away in pg 9. One
   * still waiting when the transaction is aborted is never sent, nor one behind (or
   * issued after) a statement whose conflict rolled the branch back on the server:
   * it fails with a ConflictError of the same kind (see {@link doomedBy}).
   */
  runStatement(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown> {
    // Issued after a conflict rolled the branch back (the caller caught it): the server would refuse it.
    if (this.doomedBy !== undefined && !this.#undoes(query)) return Promise.reject(this.#notSent(this.doomedBy))
    if (!this.#sending && this.#waiting.length === 0) return this.#send(conn, query, run)
    return new Promise((resolve, reject) => {
      this.#waiting.push({
        query,
        send: () => {
          try {
            this.#owner.assertAcceptsStatements()
          } catch (error) {
            reject(error)
            return this.#next()
          }
          this.#send(conn, query, run).then(resolve, reject)
        },
        withdraw: reject,
      })
    })
  }

  /**
   * Takes `query` out of the queue if it is still waiting there, failing it with
   * `error`: it is never sent. False when it was sent already (or never queued).
   * For a statement past its `.timeout()` before its turn came: cancelling then
   * would hit the statement running ahead of it, and sending it later would run
   * what the caller was told had failed.
   */
  withdraw(query: KnexQuery, error: unknown): boolean {
    const index = this.#waiting.findIndex((entry) => entry.query === query)
    if (index === -1) return false
    this.#waiting.splice(index, 1)[0]!.withdraw(error)
    return true
  }

  #send(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown> {
    this.#sending = true
    let sent: Promise<unknown>
    try {
      sent = this.#dispatch(conn, query, run)
    } catch (error) {
      sent = Promise.reject(error)
    }
    const done = (): void => {
      this.#sending = false
      this.#next()
    }
    const answered = (): void => {
      // A PostgreSQL ROLLBACK TO SAVEPOINT undid the conflict (it succeeded): the branch takes statements again.
      if (this.doomedBy !== undefined && this.#undoes(query)) this.doomedBy = undefined
      done()
    }
    const failed = (error: unknown): void => {
      const doomed = this.#conflictThatRollsBack(error)
      if (doomed === undefined) return done()
      this.doomedBy = doomed
      // Nothing queued behind is sent, but a ROLLBACK TO SAVEPOINT that may undo it (PostgreSQL), and what follows that.
      while (this.#waiting.length > 0 && !this.#undoes(this.#waiting[0]!.query)) this.#waiting.shift()!.withdraw(this.#notSent(doomed))
      done()
    }
    sent.then(answered, failed)
    return sent
  }

  /** A ROLLBACK TO SAVEPOINT on PostgreSQL, which brings a branch back from an error (MariaDB's deadlock takes the savepoints with it). */
  #undoes(query: KnexQuery): boolean {
    return this.participant.dialect === 'postgres' && ROLLBACK_TO_SAVEPOINT.test(query.sql)
  }

  /** The error of a statement refused because `doomed` rolled the branch back (its own: knex writes the SQL into each). */
  #notSent(doomed: ConflictError): ConflictError {
    const why = `an earlier statement on this branch met a ${doomed.kind} (${doomed.serverCode}), which rolled the branch back`
    return new ConflictError(this.shardId, doomed.serverCode, doomed.kind, doomed, doomed.code, `shard ${this.shardId}: not sent: ${why}`)
  }

  #next(): void {
    this.#waiting.shift()?.send()
  }

  /**
   * The ConflictError for `error` when it leaves the server-side branch (or, on
   * PostgreSQL, its savepoint) unable to run another statement: a deadlock or
   * serialization failure rolls the transaction back on both servers (MariaDB then
   * answers 1399, ROLLBACK ONLY; PostgreSQL 25P02), and on PostgreSQL so does a lock
   * timeout, like any error in a transaction.
   */
  #conflictThatRollsBack(error: unknown): ConflictError | undefined {
    const conflict = this.asConflict(error)
    if (!(conflict instanceof ConflictError)) return undefined
    return conflict.kind !== 'lock timeout' || this.participant.dialect === 'postgres' ? conflict : undefined
  }

  #dispatch(conn: DriverConnection, query: KnexQuery, run: RunQuery): Promise<unknown> {
    const label = this.participant.lockWaits === undefined ? undefined : this.#owner.waitLabel()
    if (this.begun) return label === undefined ? run(conn, query) : this.participant.lockWaits!.runLabelled(conn, query, run, label)
    return this.participant.beginWith(conn, this.id, this.#beginOptions(label), query, run)
  }

  /** Begins the branch on its own, for a statement that cannot carry it (a stream). */
  async beginAlone(conn: DriverConnection): Promise<void> {
    if (this.begun) return
    await this.participant.begin(conn, this.id, this.#beginOptions(undefined))
  }

  /** The options of the BEGIN / XA START about to be sent; from then on the branch counts as begun. */
  #beginOptions(label: WaitLabel | undefined): BranchOptions {
    const first = this.#owner.noneBegun?.() === true
    this.begun = true
    if (label === undefined && !first) return this.#options
    return { ...this.#options, ...(label === undefined ? {} : { label }), ...(first ? { firstBranch: true } : {}) }
  }

  beforeStatement(sql: string, method: string | undefined): void {
    this.#owner.assertAcceptsStatements()
    const control = findTransactionControl(sql, this.participant.dialect)
    if (control !== undefined) throw new ForbiddenStatementError(this.shardId, control)
    if (method === undefined || !READ_METHODS.has(method)) this.wrote = true
    if (this.#inflight++ === 0) this.busySince = performance.now()
  }

  afterStatement(error: unknown): unknown {
    if (--this.#inflight === 0) {
      this.busySince = undefined
      if (this.#idle !== undefined) {
        this.#idle()
        this.#idle = undefined
      }
    }
    if (error === undefined) return undefined
    // The detector cancelled this statement to break a cycle: say so, not "query cancelled".
    if (this.#owner.abortReason instanceof ConflictError) return this.#owner.abortReason
    // knex prefixed the SQL (ours included) to the message: give the caller the error as it was made.
    if (error instanceof StaleTopologyError) {
      this.#owner.noteStaleTopology?.()
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

  /** No statement running and no connection being opened. */
  get idle(): boolean {
    return this.#inflight === 0 && (this.#opening === undefined || this.conn !== undefined)
  }

  /** Cancels the statement running on the branch, if one is. */
  async cancelRunning(): Promise<void> {
    if (!this.busy || this.conn === undefined) return
    this.#cancelSent = true
    await this.participant.cancel(this.conn)
  }

  /**
   * Gives up on a branch that did not settle in time: a running statement's connection
   * is closed (the server rolls the branch back when the session ends; a statement whose
   * cancel cannot reach its shard must not hold the caller), and a connection still being
   * opened goes back to the pool unused when it comes.
   */
  abandonIfBusy(): void {
    if (this.conn === undefined) {
      this.#abandoned = this.#opening !== undefined
      return
    }
    if (this.#inflight === 0 || this.state === 'finished') return
    this.#finish('unresponsive')
  }

  // The branch's end of life, one method per protocol move. Each leaves the branch
  // `finished` with its connection pooled (`keep`) or closed (`discard`) unless it
  // says otherwise; the coordinator decides which move to make, never how.
  //
  // Each runs under a client-side bound of `ms` (docs/protocol.md, "Liveness"): past it
  // the connection is destroyed, never pooled, and the move fails with
  // ShardUnresponsiveError. The driver's promise then rejects, the server ends the
  // session once the path lets it know (rolling back what is not prepared), and a
  // prepared MySQL branch becomes finishable by others (1397 while its owner lives).
  // With no time left, or on a connection already broken, the statement is not sent at all.

  /**
   * A branch that got a connection but never sent a statement has nothing to end
   * on the server: its connection goes back to the pool. True when the branch began.
   */
  endIfNeverBegun(): boolean {
    if (this.begun) return true
    this.#finish('keep')
    return false
  }

  /**
   * PREPARE TRANSACTION / XA END + XA PREPARE. On failure the branch stays `active`
   * (rollback ends it); past `ms` it is `finished`. Either way, when no answer came
   * (the bound, a lost connection) it may be prepared on the server: rollback then
   * ends its session and rolls it back from another one (see {@link rollback}).
   */
  async prepare(ms: number): Promise<void> {
    const session = this.conn === undefined ? undefined : this.participant.serverSessionOf(this.conn)
    try {
      await this.#bounded(ms, 'PREPARE', (conn) => this.participant.prepare(conn, this.id))
    } catch (error) {
      if (session !== undefined && !(error instanceof UnsentStatementError) && lostConnection(this.participant, error)) this.#maybePrepared = session
      throw error
    }
    this.state = 'prepared'
  }

  /**
   * COMMIT PREPARED / XA COMMIT. On failure the connection is closed, not pooled
   * (MySQL lets another session finish a prepared branch only once the preparing
   * one is gone), and the branch is left to recovery.
   */
  async commitPrepared(ms: number): Promise<void> {
    await this.#ending(ms, 'COMMIT PREPARED', (conn) => this.participant.commitPrepared(conn, this.id))
  }

  /** COMMIT / XA COMMIT ONE PHASE of the only written branch. */
  async commitOnePhase(ms: number): Promise<void> {
    await this.#ending(ms, 'COMMIT', (conn) => this.participant.commitOnePhase(conn, this.id))
  }

  /**
   * Ends the branch by a commit that `write` runs on its connection (the log
   * shard's branch, which carries the decision record).
   */
  commitWith<T>(ms: number, write: (conn: DriverConnection, id: BranchId) => Promise<T>): Promise<T> {
    return this.#ending(ms, 'the decision', (conn) => write(conn, this.id))
  }

  /** Ends a branch that only read. */
  async finishReadOnly(ms: number): Promise<void> {
    await this.#ending(ms, 'ending a read-only branch', (conn) => this.participant.finishReadOnly(conn, this.id))
  }

  /**
   * Rolls the branch back, prepared or not. False when there was nothing to roll
   * back (finished, never opened or never begun); throws when the server did not
   * confirm, after closing the connection.
   */
  async rollback(ms: number): Promise<boolean> {
    if (this.#maybePrepared !== undefined) return this.#rollBackUnanswered(this.#maybePrepared, ms)
    if (this.state === 'finished' || this.conn === undefined || !this.endIfNeverBegun()) return false
    const prepared = this.state === 'prepared'
    await this.#ending(ms, 'ROLLBACK', (conn) => this.participant.rollback(conn, this.id, prepared), this.#cancelSent ? 'discard' : 'keep')
    return true
  }

  /**
   * A PREPARE that got no answer may have prepared the branch, holding its locks until
   * recovery (seen: a hot row blocked for a recovery interval after a short timeout).
   * The coordinator has decided nothing, so it may roll back its own branch: it ends the
   * session that sent the PREPARE (from then on the branch is prepared for good or rolled
   * back) and rolls back whatever is prepared, from another connection. True when a
   * prepared branch was rolled back; false when there was none or time ran out.
   */
  async #rollBackUnanswered(session: string, ms: number): Promise<boolean> {
    this.#maybePrepared = undefined
    this.#finish('discard')
    const by = Date.now() + ms
    if (!(await this.participant.endSessionOf(session, ms))) return false
    const left = by - Date.now()
    if (left <= 0) return false
    const finished = await withDeadline(this.participant.finishPrepared(this.id, 'abort'), left, () => new ShardUnresponsiveError(this.shardId, 'ROLLBACK of a PREPARE that got no answer', Math.round(left)))
    return finished === 'done'
  }

  /**
   * Leaves a prepared branch to recovery: the outcome is unknown here, so its
   * connection is closed (a pooled one would keep MySQL's branch tied to it).
   * True when the branch was prepared.
   */
  leavePreparedToRecovery(): boolean {
    if (this.state !== 'prepared') return false
    this.#finish('discard')
    return true
  }

  async #ending<T>(ms: number, what: string, end: (conn: DriverConnection) => Promise<T>, after: 'keep' | 'discard' = 'keep'): Promise<T> {
    let result: T
    try {
      result = await this.#bounded(ms, what, end)
    } catch (error) {
      this.#finish('discard')
      throw error
    }
    this.#finish(after)
    return result
  }

  /** Runs one statement on the branch's connection within `ms`; past it the branch is finished, its connection destroyed. */
  #bounded<T>(ms: number, what: string, statement: (conn: DriverConnection) => Promise<T>): Promise<T> {
    const conn = this.#connection()
    if (ms <= 0) {
      // Not "no answer": nothing was asked, and the shard may be fine (only this bound ran out).
      this.#finish('discard')
      return Promise.reject(new UnsentStatementError(this.shardId, what, 'no time left'))
    }
    // Checked just before the driver takes the statement; a break after this is a lost
    // connection as before (whether the statement arrived is then unknown).
    if (!this.participant.canSend(conn)) return Promise.reject(new UnsentStatementError(this.shardId, what, 'broken'))
    return withDeadline(statement(conn), ms, () => this.#missed(what, ms))
  }

  #missed(what: string, ms: number): ShardUnresponsiveError {
    this.#finish('unresponsive')
    return new ShardUnresponsiveError(this.shardId, what, Math.round(ms))
  }

  /**
   * `unresponsive`: closed because it missed a deadline; the pool's idle connections,
   * opened before the shard stopped answering, are dropped too.
   */
  #finish(connection: 'keep' | 'discard' | 'unresponsive'): void {
    this.state = 'finished'
    const conn = this.conn
    if (conn === undefined || this.#letGo) return
    this.#letGo = true
    if (connection === 'keep') this.participant.release(conn)
    else this.participant.discard(conn, connection === 'unresponsive' ? 'unresponsive' : undefined)
  }

  #connection(): DriverConnection {
    if (this.conn === undefined) throw new ClosedError(`branch on shard ${this.shardId} (it has no connection)`)
    return this.conn
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
