import type { Knex } from 'knex'
import { ShardUnresponsiveError } from '../src/errors.js'
import type { DriverConnection } from '../src/participant.js'
import { withDeadline } from '../src/protocol/deadline.js'

/** The part of a participant that {@link onOwnConnection} uses. */
export interface ConnectionOwner {
  readonly shardId: string
  readonly knex: Knex
  discard(conn: DriverConnection): void
}

/**
 * Runs autocommit statements on a pooled connection taken for them alone, under a
 * client-side bound. Statements still unanswered after `ms` get the connection
 * destroyed at once (not just marked, as knex's own `.timeout()` does), so the
 * driver's promise rejects, the server session ends once the path lets it know,
 * and the pool opens a fresh connection next time. Getting the connection is
 * bounded by the pool's own acquire timeout (`maxWait`).
 *
 * ```ts
 * const rows = await onOwnConnection(this, 'XA RECOVER', 5_000, (conn) => this.knex.raw('XA RECOVER').connection(conn))
 * ```
 */
export async function onOwnConnection<T>(
  owner: ConnectionOwner,
  what: string,
  ms: number,
  work: (conn: DriverConnection) => PromiseLike<T>,
): Promise<T> {
  const conn = (await owner.knex.client.acquireConnection()) as DriverConnection
  let missed = false
  try {
    return await withDeadline(Promise.resolve(work(conn)), ms, () => {
      missed = true
      owner.discard(conn)
      return new ShardUnresponsiveError(owner.shardId, what, ms)
    })
  } finally {
    if (!missed) void owner.knex.client.releaseConnection(conn)
  }
}

/**
 * What knex does to close a pooled connection, with a bound: the driver's polite
 * goodbye (pg `end()`, mysql2's QUIT) waits for the server's answer, which a
 * black-holed path never sends, and would hold the pool's `destroy()` (and so
 * `cluster.close()`) forever. Past `ms` the socket is destroyed instead.
 *
 * ```ts
 * knex.client.destroyRawConnection = (conn) => closeWithin(() => end(conn), () => destroySocket(conn), 1_000)
 * ```
 */
export async function closeWithin(end: () => Promise<unknown>, destroySocket: () => void, ms: number): Promise<void> {
  try {
    await withDeadline(end(), ms, () => new Error('no answer to the goodbye'))
  } catch {
    destroySocket()
  }
}
