import type { Knex } from 'knex'
import { ShardUnresponsiveError } from '../../src/errors.js'
import type { DriverConnection } from '../../src/protocol/participant.js'
import { withDeadline } from '../../src/protocol/deadline.js'
import { closeWithin } from './own-connection.js'
import { closeConnectionsWith, connectionsInUse, freeConnections, markDisposed, wrapStatementSender } from './knex-internals.js'

/** How long closing a connection politely may take before its socket is destroyed. */
const GOODBYE_MS = 1_000

/**
 * Makes a knex pool close its connections with a bound: the driver's polite goodbye
 * (pg `end()`, mysql2's QUIT) waits for an answer a black-holed path never sends, and
 * would hold the pool's `destroy()`, and so `cluster.close()`, forever.
 *
 * ```ts
 * closeConnectionsWithin(knex, (conn) => conn.stream.destroy())
 * ```
 */
export function closeConnectionsWithin<C extends { end(callback: () => void): unknown }>(knex: Knex, destroySocket: (conn: C) => void): void {
  closeConnectionsWith(knex, (conn: C) =>
    closeWithin(() => new Promise<void>((resolve) => void conn.end(() => resolve())), () => destroySocket(conn), GOODBYE_MS),
  )
}

/**
 * Bounds every statement a knex instance sends (its pool, its transactions, its
 * migrator, its schema builder): one still unanswered after `ms` gets its socket
 * destroyed, so the driver fails it and the pool drops the connection. Meant for a
 * knex instance made for one operation, such as running migrations, where no
 * statement may wait forever on a shard that stopped answering.
 *
 * ```ts
 * const knex = boundEveryStatement(knexFactory(config), 'pg-0', 60_000, destroySocket)
 * ```
 */
export function boundEveryStatement<C>(knex: Knex, shardId: string, ms: number, destroySocket: (conn: C) => void): Knex {
  wrapStatementSender(knex, (send, conn, query) =>
    withDeadline(send(conn, query), ms, () => {
      markDisposed(conn, 'missed its statement bound')
      destroySocket(conn as C)
      return new ShardUnresponsiveError(shardId, 'a statement', ms)
    }),
  )
  return knex
}

/**
 * `knex.destroy()` with a bound: the pool waits for every connection in use to come
 * back, and one whose statement a dead path holds (a query of the application's own
 * through `forShard()`, say) never would. Past `ms` the sockets of the connections
 * still in use are destroyed, which fails their statements, and this resolves.
 *
 * It does not wait for the pool to finish then: that happens when each holder gives
 * its connection back, and a holder may be a transaction whose callback is busy with
 * something else until its timeout. Every socket of the pool, used or idle, is
 * closed already; the holder's next statement fails at once.
 *
 * ```ts
 * await destroyWithin(knex, 5_000, destroySocket)
 * ```
 */
export async function destroyWithin<C>(knex: Knex, ms: number, destroySocket: (conn: C) => void): Promise<void> {
  const destroyed = knex.destroy()
  try {
    await withDeadline(destroyed, ms, () => new Error('connections still in use'))
  } catch {
    // The idle ones too: the pool closes them only after the used ones come back.
    for (const conn of [...connectionsInUse<C>(knex), ...freeConnections<C>(knex)]) destroySocket(conn)
    destroyed.catch(() => {})
  }
}
