import type { Knex } from 'knex'
import type { DriverConnection } from '../../src/protocol/participant.js'

/**
 * The one place the adapters touch knex's client internals (its pool and its
 * cancel): knex has no public API to take a raw connection out of its pool and
 * give it back, which a branch needs to run its whole life on one session.
 */

/** Marks a connection knex's pool must drop, not reuse; knex logs this text when it does. */
export const DISCARD_MARKER = 'discarded by shardtx'

export async function acquireConnection(knex: Knex): Promise<DriverConnection> {
  return (await knex.client.acquireConnection()) as DriverConnection
}

export function releaseConnection(knex: Knex, conn: DriverConnection): void {
  void knex.client.releaseConnection(conn)
}

/**
 * Gives a connection back marked disposed, so the pool drops it on its next
 * validation; `close` ends the driver's session first.
 */
export function discardConnection(knex: Knex, conn: DriverConnection, close: () => void): void {
  ;(conn as { __knex__disposed?: unknown }).__knex__disposed = DISCARD_MARKER
  close()
  void knex.client.releaseConnection(conn)
}

/** Cancels the statement running on `conn`, from another connection. */
export async function cancelQuery(knex: Knex, conn: DriverConnection): Promise<void> {
  await knex.client.cancelQuery(conn)
}
