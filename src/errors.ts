/**
 * The error hierarchy of shardtx. Every error the library throws is a
 * {@link ShardTxError}; server errors are kept as `cause` with their codes.
 *
 * ```ts
 * import { TransactionAbortedError, isRetryable } from 'shardtx'
 * try { await cluster.transaction(work) }
 * catch (err) { if (isRetryable(err)) retryLater() else throw err }
 * ```
 */
export class ShardTxError extends Error {
  /** A stable machine-readable name of the failure, e.g. `'CONFIG'`. */
  readonly code: string
  /** True when running the same work again may succeed. */
  readonly retryable: boolean

  constructor(message: string, options: { code: string; cause?: unknown; retryable?: boolean }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = options.code
    this.retryable = options.retryable ?? false
  }
}

/**
 * A configuration value is wrong. `field` names it as a path, e.g. `shards[1].weight`.
 *
 * ```ts
 * createCluster({ shards: [] }) // throws ConfigError: shards: must list at least one shard
 * ```
 */
export class ConfigError extends ShardTxError {
  readonly field: string
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`, { code: 'CONFIG' })
    this.field = field
  }
}

/**
 * A shard key is not a string, safe integer, bigint or byte array.
 *
 * ```ts
 * cluster.shardFor(undefined as never) // throws InvalidKeyError
 * ```
 */
export class InvalidKeyError extends ShardTxError {
  constructor(problem: string) {
    super(`invalid shard key: ${problem}`, { code: 'INVALID_KEY' })
  }
}

/**
 * The transaction did not commit on any shard: every branch was rolled back
 * (or will be by recovery, under presumed abort). `cause` says why.
 *
 * ```ts
 * catch (err) { if (err instanceof TransactionAbortedError) console.log(err.txId, err.cause) }
 * ```
 */
export class TransactionAbortedError extends ShardTxError {
  readonly txId: string
  constructor(txId: string, reason: string, cause?: unknown, retryable = false) {
    super(`transaction ${txId} aborted: ${reason}`, { code: 'ABORTED', cause, retryable })
    this.txId = txId
  }
}

/**
 * The outcome is not known to this process: every written branch was prepared
 * but the decision could not be recorded or read. Recovery settles it (commit
 * if a commit record exists, abort otherwise); the outcome is atomic either way.
 *
 * ```ts
 * catch (err) { if (err instanceof TransactionInDoubtError) await cluster.recover() }
 * ```
 */
export class TransactionInDoubtError extends ShardTxError {
  readonly txId: string
  constructor(txId: string, reason: string, cause?: unknown) {
    super(`transaction ${txId} is in doubt: ${reason}; recovery will settle it atomically`, {
      code: 'IN_DOUBT',
      cause,
    })
    this.txId = txId
  }
}

/**
 * A transaction or cluster was used after it finished or was closed. A transaction
 * that `close()` overtook before it could commit (waiting for admission or a
 * connection) also ends with it, nothing committed; `cause` is what the attempt met.
 *
 * ```ts
 * await cluster.close(); cluster.shardFor('k') // throws ClosedError
 * ```
 */
export class ClosedError extends ShardTxError {
  constructor(what: string, cause?: unknown) {
    super(`${what} is closed`, { code: 'CLOSED', cause })
  }
}

/**
 * A statement was refused before it reached the server because it would break
 * the commit protocol (BEGIN, COMMIT, XA …, SET autocommit …).
 *
 * ```ts
 * await tx.forShard('pg-0').raw('commit') // throws ForbiddenStatementError
 * ```
 */
export class ForbiddenStatementError extends ShardTxError {
  readonly shardId: string
  constructor(shardId: string, statement: string) {
    super(
      `shard ${shardId}: "${statement}" controls the transaction; shardtx owns BEGIN/COMMIT/ROLLBACK/PREPARE/XA on its branches`,
      { code: 'FORBIDDEN_STATEMENT' },
    )
    this.shardId = shardId
  }
}

/**
 * A conflict the server resolved by failing this statement: serialization
 * failure, deadlock or lock timeout (40001, 40P01, 55P03, 1205, 1213).
 * Running the whole transaction again may succeed.
 *
 * ```ts
 * catch (err) { if (err instanceof ConflictError) console.log(err.serverCode, err.shardId) }
 * ```
 */
export class ConflictError extends ShardTxError {
  readonly shardId: string
  /** The server's own code: SQLSTATE on PostgreSQL, errno on MySQL. */
  readonly serverCode: string
  /** What ended the attempt: `'deadlock'`, `'lock timeout'`, `'serialization failure'`, or `'distributed deadlock'` (the detector). */
  readonly kind: string
  constructor(shardId: string, serverCode: string, kind: string, cause: unknown, code = 'CONFLICT', message?: string) {
    const detail = cause instanceof Error ? `: ${cause.message}` : ''
    super(message ?? `shard ${shardId}: ${kind} (${serverCode})${detail}`, { code, cause, retryable: true })
    this.shardId = shardId
    this.serverCode = serverCode
    this.kind = kind
  }
}

/**
 * A shard could not be reached or failed in a way that is not a conflict.
 *
 * ```ts
 * catch (err) { if (err instanceof ShardUnavailableError) console.log(err.shardId) }
 * ```
 */
export class ShardUnavailableError extends ShardTxError {
  readonly shardId: string
  constructor(shardId: string, reason: string, cause?: unknown) {
    super(`shard ${shardId}: ${reason}`, { code: 'SHARD_UNAVAILABLE', cause, retryable: true })
    this.shardId = shardId
  }
}

/**
 * A shard did not answer one statement within its bound (the cluster's `timeouts`),
 * typically a network path that drops packets without closing the socket. The
 * connection it ran on was closed, never pooled. Whether the statement reached the
 * server is unknown, so shardtx treats it as a lost connection.
 *
 * ```ts
 * catch (err) { if (err instanceof ShardUnresponsiveError) console.log(err.shardId, err.timeoutMs) }
 * ```
 */
export class ShardUnresponsiveError extends ShardUnavailableError {
  /** The bound the statement missed, in ms. */
  readonly timeoutMs: number
  constructor(shardId: string, what: string, timeoutMs: number) {
    super(shardId, `${what} got no answer within ${timeoutMs} ms; its connection was closed`)
    this.timeoutMs = timeoutMs
  }
}

/**
 * The transaction ran past its `timeout` or its `signal` aborted it.
 * Always found as the `cause` of a {@link TransactionAbortedError}.
 *
 * ```ts
 * catch (err) { if (err instanceof TransactionAbortedError && err.cause instanceof TransactionTimeoutError) slowDown() }
 * ```
 */
export class TransactionTimeoutError extends ShardTxError {
  constructor(reason: string) {
    super(reason, { code: 'TIMEOUT' })
  }
}

/**
 * `cluster.resolve()` was asked to settle a transaction that no shard holds a prepared
 * branch of and the log has no record of: most often a mistyped id, or one already
 * settled and forgotten. Nothing was written. `{ force: true }` fences it anyway.
 *
 * ```ts
 * catch (err) { if (err instanceof NoSuchInDoubtTransactionError) console.log(`check the id: ${err.txId}`) }
 * ```
 */
export class NoSuchInDoubtTransactionError extends ShardTxError {
  readonly txId: string
  constructor(txId: string) {
    super(
      `no such in-doubt transaction: ${txId} has no prepared branch on any shard and no log record; nothing was written (force it to fence the id anyway)`,
      { code: 'NO_SUCH_TRANSACTION' },
    )
    this.txId = txId
  }
}

/**
 * True when `error` says the same work may succeed if run again.
 *
 * ```ts
 * if (isRetryable(err)) await sleep(10)
 * ```
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof ShardTxError && error.retryable
}

/**
 * The first error in the `cause` chain of `error` (itself included) that `test`
 * accepts: a branch wraps the server's error in a typed one, a transaction wraps
 * what failed it. Internal; not exported from the package.
 */
export function findCause(error: unknown, test: (candidate: unknown) => boolean): unknown {
  for (let e = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    if (test(e)) return e
  }
  return undefined
}

/**
 * A shard refused a branch because this process routes by an older topology
 * epoch than the shard's (the epoch of the last change of what it owns), or the
 * shard was never told one: the shard set changed.
 * Nothing the branch wrote can commit. The process reloads the topology; a
 * transaction with `retry` runs again under the new routing.
 *
 * ```ts
 * catch (err) { if (err instanceof StaleTopologyError) console.log(err.routedEpoch, err.shardEpoch) }
 * ```
 */
export class StaleTopologyError extends ShardTxError {
  readonly shardId: string
  /** The epoch this process routed the transaction by. */
  readonly routedEpoch: number
  /** The epoch the shard holds (0 when it was never told one). */
  readonly shardEpoch: number
  /** `refusal`: for a subclass, its own message and code in place of the shard's refusal. */
  constructor(shardId: string, routedEpoch: number, shardEpoch: number, refusal?: { message: string; code: string }) {
    super(
      refusal?.message ??
        `shard ${shardId}: this process routes by topology epoch ${routedEpoch} but the shard is at epoch ${shardEpoch}; ` +
          'the topology changed, the process reloads it, and the transaction may run again',
      { code: refusal?.code ?? 'STALE_TOPOLOGY', retryable: true },
    )
    this.shardId = shardId
    this.routedEpoch = routedEpoch
    this.shardEpoch = shardEpoch
  }
}

/**
 * The key's slot is in the batch a resharding job is moving right now: routing
 * refuses it in this process, before any statement is sent, so no write can land
 * on a copy that is about to move. Keys of every other slot route as usual. The
 * process reloads the topology; a transaction with `retry` runs again, and
 * succeeds once the batch's move commits (or the job is cancelled).
 *
 * ```ts
 * catch (err) { if (err instanceof KeyMovingError) console.log(err.shardId, err.jobId, err.batch) }
 * ```
 */
export class KeyMovingError extends StaleTopologyError {
  readonly jobId: string
  /** The index of the batch being moved. */
  readonly batch: number
  constructor(shardId: string, routedEpoch: number, jobId: string, batch: number) {
    super(shardId, routedEpoch, routedEpoch, {
      message:
        `shard ${shardId}: the key is in batch ${batch} of resharding job ${jobId}, which is moving it (topology epoch ${routedEpoch}); ` +
        'the process reloads the topology, and the transaction may run again',
      code: 'KEY_MOVING',
    })
    this.jobId = jobId
    this.batch = batch
  }
}

/**
 * A topology change could not take the fence of every shard within its time:
 * `blockers` names what held it (sessions, in-doubt branches). Nothing changed
 * on any shard; running the change again later may succeed.
 *
 * ```ts
 * catch (err) { if (err instanceof TopologyChangeBlockedError) console.log(err.blockers.join('\n')) }
 * ```
 */
export class TopologyChangeBlockedError extends ShardTxError {
  readonly blockers: string[]
  constructor(reason: string, blockers: string[]) {
    super(`topology change blocked: ${reason}${blockers.length > 0 ? `; held by: ${blockers.join('; ')}` : ''}`, {
      code: 'TOPOLOGY_CHANGE_BLOCKED',
      retryable: true,
    })
    this.blockers = blockers
  }
}
