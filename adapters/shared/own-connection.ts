import type { Knex } from 'knex'
import { ShardUnavailableError, ShardUnresponsiveError } from '../../src/errors.js'
import { describeShardError } from '../../src/shard-error-text.js'
import { NotSentError } from './never-sent.js'
import type { DriverConnection } from '../../src/protocol/participant.js'
import { msUntil, withDeadline } from '../../src/protocol/deadline.js'
import { acquireConnection, isDiscarded, releaseConnection } from './knex-internals.js'

/** The part of a participant that {@link runOnOwnConnection} uses. */
export interface ConnectionOwner {
  readonly shardId: string
  readonly knex: Knex
  discard(conn: DriverConnection, why?: 'unresponsive'): void
}

/**
 * Runs autocommit statements on a pooled connection taken for them alone, all
 * within `ms`, getting the connection included. Statements still unanswered then get
 * the connection destroyed at once (not just marked, as knex's own `.timeout()`
 * does), so the driver's promise rejects, the server session ends once the path lets
 * it know, and the pool opens a fresh connection next time. No connection in time is
 * a ShardUnavailableError: nothing was sent.
 *
 * ```ts
 * const rows = await runOnOwnConnection(this, 'XA RECOVER', 5_000, (conn) => this.knex.raw('XA RECOVER').connection(conn))
 * ```
 */
export async function runOnOwnConnection<T>(
  owner: ConnectionOwner,
  what: string,
  ms: number,
  work: (conn: DriverConnection) => PromiseLike<T>,
): Promise<T> {
  const deadline = Date.now() + ms
  const acquiring = acquireConnection(owner.knex)
  let conn: DriverConnection
  try {
    conn = await withDeadline(acquiring, ms, () => {
      // It may still come: back to the pool, unused.
      acquiring.then((late) => releaseConnection(owner.knex, late), () => {})
      return new NotSentError(`no connection within ${ms} ms`)
    })
    if (msUntil(deadline) <= 0) {
      releaseConnection(owner.knex, conn)
      throw new NotSentError(`no time left after getting a connection (${ms} ms)`)
    }
  } catch (error) {
    // Nothing was sent: the coordinator may treat it as a refusal, never as a lost answer.
    throw couldNotConnect(owner, error)
  }
  try {
    return await withinBound(owner, conn, what, msUntil(deadline), work(conn), ms)
  } finally {
    if (!isDiscarded(conn)) releaseConnection(owner.knex, conn)
  }
}

/** No connection came: a ShardUnavailableError that keeps the pool's reason as its cause (neverSent reads it). */
export function couldNotConnect(owner: Pick<ConnectionOwner, 'shardId'>, error: unknown): ShardUnavailableError {
  return new ShardUnavailableError(owner.shardId, `could not get a connection: ${describeShardError(error)}`, error)
}

/**
 * Settles as `work`, running on `conn`, does, unless `ms` pass first: then the
 * connection is closed as unresponsive and the call fails with a
 * ShardUnresponsiveError that names `what` and the bound (`boundMs`, when the bound
 * the caller was given is not the time left of it).
 */
function withinBound<T>(owner: ConnectionOwner, conn: DriverConnection, what: string, ms: number, work: PromiseLike<T>, boundMs = ms): Promise<T> {
  return withDeadline(Promise.resolve(work), ms, () => {
    owner.discard(conn, 'unresponsive')
    return new ShardUnresponsiveError(owner.shardId, what, boundMs)
  })
}

/**
 * A pooled connection that one operation holds across several statements, such as
 * an epoch change's hold on a shard's fence (BEGIN and LOCK, then the raise and
 * COMMIT): each statement is bounded, one that misses gets the connection closed,
 * and once closed the session refuses further statements at once.
 *
 * ```ts
 * const session = await BoundedSession.open(participant, 5_000)
 * try { await session.run('locking the fence', (conn) => conn.query(sql), lockWaitMs + 5_000) } finally { session.release() }
 * ```
 */
export class BoundedSession<C extends DriverConnection> {
  readonly #owner: ConnectionOwner
  readonly conn: C
  readonly #statementMs: number
  #released = false

  constructor(owner: ConnectionOwner, conn: C, statementMs: number) {
    this.#owner = owner
    this.conn = conn
    this.#statementMs = statementMs
  }

  /** Takes a pooled connection (the pool's own wait bounds it); failing to get one is a ShardUnavailableError. */
  static async open<C extends DriverConnection>(owner: ConnectionOwner, statementMs: number): Promise<BoundedSession<C>> {
    try {
      return new BoundedSession(owner, (await acquireConnection(owner.knex)) as C, statementMs)
    } catch (error) {
      throw couldNotConnect(owner, error)
    }
  }

  run<T>(what: string, work: (conn: C) => PromiseLike<T>, ms = this.#statementMs): Promise<T> {
    if (this.#released || isDiscarded(this.conn)) {
      return Promise.reject(new ShardUnavailableError(this.#owner.shardId, `${what}: its connection was closed after an earlier statement got no answer`))
    }
    return withinBound(this.#owner, this.conn, what, ms, work(this.conn))
  }

  /** Back to the pool, unless a missed bound closed it; a second call does nothing. */
  release(): void {
    if (this.#released) return
    this.#released = true
    if (!isDiscarded(this.conn)) releaseConnection(this.#owner.knex, this.conn)
  }
}

/** Tries `end()` for up to `ms`, then destroys the socket. */
export async function closeWithin(end: () => Promise<unknown>, destroySocket: () => void, ms: number): Promise<void> {
  try {
    await withDeadline(end(), ms, () => new Error('no answer to the goodbye'))
  } catch {
    destroySocket()
  }
}
