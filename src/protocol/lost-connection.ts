import { ShardUnresponsiveError } from '../errors.js'
import type { ErrorClassification } from './participant.js'

/**
 * True when `error` means the connection went away, or stopped answering and was
 * closed by its bound: either way whether the statement reached the server is unknown.
 */
export function lostConnection(participant: Pick<ErrorClassification, 'isConnectionError'>, error: unknown): boolean {
  return error instanceof ShardUnresponsiveError || participant.isConnectionError(error)
}
