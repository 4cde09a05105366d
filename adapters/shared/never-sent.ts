import { ShardUnavailableError } from '../../src/errors.js'

/** Socket errors raised before a connection exists: no statement can have reached the server. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/** A statement given up before it was sent (no connection within its bound). */
export class NotSentError extends Error {
  override readonly name = 'NotSentError'
}

/**
 * True when `error` proves the statement was never sent: the connection was
 * refused or never resolved, or no pooled connection came within `maxWait`
 * (knex's KnexTimeoutError). Any other connection error leaves it unknown.
 */
export function neverSent(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  // "Could not get a connection" keeps the driver's reason as its cause.
  if (error instanceof ShardUnavailableError && error.cause !== undefined) return neverSent(error.cause)
  const code = (error as { code?: unknown }).code
  return (typeof code === 'string' && NOT_CONNECTED.has(code)) || error.name === 'KnexTimeoutError' || error instanceof NotSentError
}
