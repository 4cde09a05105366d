import type { Knex } from 'knex'
import type { Dialect } from '../config/shard-config.js'
import type { WaitLabel } from '../contention/wait-label.js'
import type { BranchId } from './ids/branch-id.js'

/**
 * The small interface the coordinator and recovery speak to a shard through.
 * One implementation per dialect lives in `adapters/<dialect>/`; nothing else
 * imports a driver or writes dialect-specific SQL.
 *
 * A {@link DriverConnection} is the raw driver connection a branch runs on,
 * taken from the shard's knex pool; the core treats it as opaque.
 */
export type DriverConnection = object

/**
 * Isolation level of every branch of a transaction (each shard applies it to its own branch).
 *
 * ```ts
 * await cluster.transaction(work, { isolationLevel: 'serializable' satisfies IsolationLevel })
 * ```
 */
export type IsolationLevel = 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'

export interface BranchOptions {
  isolationLevel?: IsolationLevel | undefined
  /** Lock wait limit for this branch in ms (PostgreSQL `lock_timeout`, MySQL `innodb_lock_wait_timeout`). */
  lockTimeoutMs?: number | undefined
  /** Shown to other sessions for deadlock detection, when it is on (see docs/deadlocks.md). */
  label?: WaitLabel | undefined
  /** The topology epoch the transaction routes by: the branch checks the shard's fence with it (docs/topology.md). */
  fenceEpoch?: number | undefined
  /**
   * No other branch of the transaction has begun: it holds no fence anywhere, so its
   * fence check may wait (bounded) for a hold to end instead of failing at once.
   */
  firstBranch?: boolean | undefined
}

/** The part of knex's query object a participant touches. */
export interface KnexQuery {
  sql: string
  bindings?: unknown[]
  options?: Record<string, unknown>
  response?: unknown
}

/** Sends a statement on a connection and sets `query.response` (knex's dialect sender). */
export type RunQuery = (conn: DriverConnection, query: KnexQuery) => Promise<unknown>

/**
 * A transaction's outcome as the log records it.
 *
 * ```ts
 * await cluster.resolve(txId, 'abort' satisfies Decision)
 * ```
 */
export type Decision = 'commit' | 'abort'

/** One row of the transaction log table. */
export interface DecisionRecord {
  txId: string
  decision: Decision
  /** Shard ids of every branch that was prepared or committed under this decision. */
  participants: string[]
  /** ms since epoch, by the writer's clock. */
  createdAt: number
}

/** A prepared branch of ours found on a shard. */
export interface PreparedBranch {
  txId: string
  shardId: string
  /** When the server says it was prepared (PostgreSQL only). */
  preparedAt?: number | undefined
}

/**
 * What finishing a prepared branch from outside its coordinator found:
 * `done`, `not-found` (someone else finished it), or `busy` (its owner still
 * holds it: MySQL while the preparing connection is open, PostgreSQL while the
 * PREPARE itself is still running).
 */
export type FinishResult = 'done' | 'not-found' | 'busy'

/** A server error that means "try the whole transaction again". */
export interface ConflictInfo {
  serverCode: string
  kind: 'serialization failure' | 'deadlock' | 'lock timeout'
}

/**
 * Role 1, the branch driver: runs one branch's life on a connection of the
 * shard's pool, from BEGIN / XA START to its end.
 */
export interface BranchDriver {
  readonly shardId: string
  readonly dialect: Dialect
  /** The shard's own knex instance and pool. */
  readonly knex: Knex
  /** Role 5, lock waits and statement labels for distributed deadlock detection; absent where a dialect has none. */
  readonly lockWaits?: LockWaitSource

  /**
   * Checks once per shard that the server can take part in two-phase commit;
   * undefined once it has passed, so that a branch's open awaits nothing then.
   */
  verify(): Promise<void> | undefined

  /** Takes a pooled connection; nothing is sent yet. */
  acquire(): Promise<DriverConnection>
  /**
   * False once the connection can no longer carry a statement to its server session:
   * its socket is destroyed or ended, or the driver marked it broken or closing. Nothing
   * sent on it could reach that session, which can then only roll back what it holds
   * (a branch that is not prepared). True does not promise the next statement arrives.
   */
  canSend(conn: DriverConnection): boolean
  /** The server session behind a connection (pg `processID`, mysql2 `threadId`), as {@link endSessionOf} takes it. */
  serverSessionOf(conn: DriverConnection): string | undefined
  /**
   * Ends server session `session` from a connection of its own (pg_terminate_backend,
   * KILL CONNECTION) and waits until the server has let it go, all within `ms`: then
   * whatever it had prepared is prepared for good, and what it had not is rolled back.
   * True once it is gone; false when it could not be told in time.
   */
  endSessionOf(session: string, ms: number): Promise<boolean>
  /** Starts the branch on its own (one round trip); used when no statement can carry it. */
  begin(conn: DriverConnection, branch: BranchId, options: BranchOptions): Promise<void>
  /**
   * Starts the branch and runs the caller's first statement in the same round trip.
   * `query` is knex's query object (`sql`, `bindings`, `options`); `run` is the knex
   * dialect's sender, which sets `query.response`. Afterwards `query.response`
   * holds what `run` would have set for the statement alone.
   */
  beginWith(conn: DriverConnection, branch: BranchId, options: BranchOptions, query: KnexQuery, run: RunQuery): Promise<unknown>
  /** Prepares a branch that wrote; afterwards it survives crashes and holds its locks. */
  prepare(conn: DriverConnection, branch: BranchId): Promise<void>
  /** Commits a branch this connection prepared. */
  commitPrepared(conn: DriverConnection, branch: BranchId): Promise<void>
  /** Commits a branch without preparing it. */
  commitOnePhase(conn: DriverConnection, branch: BranchId): Promise<void>
  /** Ends a branch that only read. */
  finishReadOnly(conn: DriverConnection, branch: BranchId): Promise<void>
  /** Rolls back an active or prepared branch on its own connection. */
  rollback(conn: DriverConnection, branch: BranchId, prepared: boolean): Promise<void>
  /** Returns a connection whose branch is finished to the pool. */
  release(conn: DriverConnection): void
  /**
   * Closes a connection instead of pooling it: its server session ends (and rolls back
   * whatever is not prepared). `unresponsive`: it missed a deadline, so the pool's idle
   * connections, opened before the shard stopped answering, are dropped too rather
   * than handed to the next transaction to time out on.
   */
  discard(conn: DriverConnection, why?: 'unresponsive'): void
  /**
   * A knex instance of its own for one operation (migrations, health checks) that
   * bounds every statement it sends by `statementMs`: one that misses it has its
   * connection destroyed and fails with ShardUnresponsiveError. Destroy it when done.
   */
  boundedKnex(statementMs: number): Knex
  /**
   * Runs autocommit statements on a pooled connection taken for them alone, all within
   * `ms`, getting the connection included: the plain reads and writes of shardtx's own
   * tables outside any branch (the stored topology, a fence row). No connection in time
   * is a ShardUnavailableError; no answer in time gets the connection closed and is a
   * ShardUnresponsiveError.
   *
   * ```ts
   * const row = await participant.onOwnConnection('reading the topology', 5_000, (conn) => knex('t').first().connection(conn))
   * ```
   */
  onOwnConnection<T>(what: string, ms: number, work: (conn: DriverConnection) => PromiseLike<T>): Promise<T>
  /** Cancels the statement running on a connection, from another connection. */
  cancel(conn: DriverConnection): Promise<void>

  /** Closes the pool; connections still in use after `ms` (default `timeouts.recovery`) are closed under their statements. */
  close(ms?: number): Promise<void>
}

/** Role 2, prepared-branch listing: what recovery finds and finishes on a shard. */
export interface PreparedBranchListing {
  /** Lists our prepared branches of this shard (not other shards' on the same server). */
  listPrepared(): Promise<PreparedBranch[]>
  /** Commits or rolls back a prepared branch from any session. */
  finishPrepared(branch: BranchId, outcome: Decision): Promise<FinishResult>
}

/** Role 3, the decision store: the transaction log table. Used on the log shard only. */
export interface DecisionStore {
  /** Inserts a decision in its own autocommit statement. */
  insertDecision(record: DecisionRecord): Promise<'inserted' | 'conflict'>
  /**
   * Writes the commit record inside the branch and commits it one-phase: the
   * commit point of a two-phase transaction whose log shard wrote.
   * `conflict` means a recoverer fenced the transaction first (abort record).
   */
  commitWithDecision(conn: DriverConnection, branch: BranchId, record: DecisionRecord): Promise<'committed' | 'conflict'>
  /**
   * For each transaction, inserts an abort record unless one exists, then reads
   * the decision that stands, in as few statements as the batch allows. Waits
   * while a coordinator's uncommitted commit record holds a key, so what it
   * returns is final; every transaction asked about has a decision in the result.
   * Each statement within `ms` (default `timeouts.decision`).
   */
  fenceAbort(requests: { txId: string; participants: string[] }[], createdAt: number, ms?: number): Promise<Map<string, Decision>>
  /** Reads the records of these transactions (all when omitted), optionally of one decision. */
  readDecisions(txIds?: string[], decision?: Decision): Promise<DecisionRecord[]>
  /** Deletes the named records that hold `decision`. */
  deleteDecisions(txIds: string[], decision: Decision): Promise<number>
  /** Deletes abort records older than `before` (ms since epoch). */
  deleteAbortsBefore(before: number): Promise<number>
}

/** Role 4, error classification: what a server or driver error means to the protocol. */
export interface ErrorClassification {
  /** Names a retryable conflict, or undefined for any other error. */
  classifyConflict(error: unknown): ConflictInfo | undefined
  /** True when the error means the connection or server went away. */
  isConnectionError(error: unknown): boolean
  /**
   * True when the error proves the statement never reached the server (refused,
   * unresolved, no pooled connection in time); any other connection error
   * leaves it unknown whether the server ran it.
   */
  neverSent(error: unknown): boolean
}

/** A shard as the protocol speaks to it: every role, one implementation per dialect. */
export interface Participant extends BranchDriver, PreparedBranchListing, DecisionStore, ErrorClassification {}

/**
 * One lock wait a shard reports: session `waiter` waits for a lock that session
 * `blocker` holds (or waits for ahead of it). Labels are whatever text the server
 * shows for each session, where a {@link WaitLabel} may be found; null when it
 * shows none (a MariaDB session that is idle between statements).
 */
export interface LockWait {
  waiter: string
  waiterText: string | null
  blocker: string
  blockerText: string | null
}

/**
 * Role 5, lock waits: what distributed deadlock detection needs from a shard
 * (docs/deadlocks.md), implemented in `adapters/<dialect>/`:
 * the server's lock waits, a way to label a branch's statements, and the id of the
 * server session behind a connection.
 */
export interface LockWaitSource {
  /**
   * True when an idle session still shows its label to others (PostgreSQL's
   * `application_name`, set for the transaction). Sessions of shards where it
   * does not are listed in the label a transaction sends everywhere else.
   */
  readonly idleSessionsShowLabel: boolean
  /**
   * Set when `lockWaits()` shows a server-wide view rather than this shard's
   * database alone (MariaDB's InnoDB views): shards whose sources have the same
   * `view` answer with the same rows, so the detector reads one of them per round.
   */
  readonly view?: string
  /** The server session id behind a connection (pg `processID`, mysql2 `threadId`). */
  sessionOf(conn: DriverConnection): string
  /** Undefined when lock waits can be read here; otherwise why not, for the warning. */
  probe(boundMs: number): Promise<string | undefined>
  /** The lock waits of this shard now, under a bound of `boundMs` on the server and on the client. */
  lockWaits(boundMs: number): Promise<LockWait[]>
  /**
   * Runs a statement of a begun branch so that the server shows `label` for it,
   * in the same round trip as the statement.
   */
  runLabelled(conn: DriverConnection, query: KnexQuery, run: RunQuery, label: WaitLabel): Promise<unknown>
}
