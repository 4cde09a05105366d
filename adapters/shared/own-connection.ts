import type { Knex } from 'knex'
import { ShardUnavailableError, ShardUnresponsiveError } from '../../src/errors.js'
import { describeShardError } from '../../src/shard-error-text.js'
import { NotSentError } from './never-sent.js'
import type { DriverConnection } from '../../src/protocol/participant.js'
import { msUntil, withDeadline } from '../../src/protocol/deadline.js'
import { acquireConnection, releaseConnection } from './knex-internals.js'

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
    throw new ShardUnavailableError(owner.shardId, `could not get a connection: ${describeShardError(error)}`, error)
  }
  let missed = false
  try {
    return await withDeadline(Promise.resolve(work(conn)), msUntil(deadline), () => {
      missed = true
      owner.discard(conn, 'unresponsive')
      return new ShardUnresponsiveError(owner.shardId, what, ms)
    })
  } finally {
    if (!missed) releaseConnection(owner.knex, conn)
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
