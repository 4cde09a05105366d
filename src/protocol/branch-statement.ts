import type { Branch } from '../branch.js'
import { ShardUnresponsiveError } from '../errors.js'
import type { DriverConnection, Participant } from '../participant.js'
import { withDeadline } from './deadline.js'

/**
 * Sends one protocol statement (PREPARE, the decision, COMMIT, ROLLBACK) on a
 * branch's own connection under a client-side bound. Past it the connection is
 * destroyed, never pooled: the driver's promise rejects, the server ends the
 * session once the path lets it know (rolling back what is not prepared), and a
 * prepared MySQL branch becomes finishable by others (1397 while its owner lives).
 * With no time left the statement is not sent at all.
 *
 * ```ts
 * await onBranchConnection(branch, 2_000, 'COMMIT PREPARED', (conn) => branch.participant.commitPrepared(conn, branch.id))
 * ```
 */
export function onBranchConnection<T>(
  branch: Branch,
  ms: number,
  what: string,
  statement: (conn: DriverConnection) => Promise<T>,
): Promise<T> {
  const conn = branch.conn!
  const missed = (): ShardUnresponsiveError => {
    // Nothing more can be sent on it: the server, or recovery once prepared, finishes the branch.
    branch.state = 'finished'
    branch.participant.discard(conn, 'unresponsive')
    return new ShardUnresponsiveError(branch.shardId, what, Math.round(ms))
  }
  if (ms <= 0) return Promise.reject(missed())
  return withDeadline(statement(conn), ms, missed)
}

/** True when `error` means the connection went away, or stopped answering and was closed. */
export function lostConnection(participant: Participant, error: unknown): boolean {
  return error instanceof ShardUnresponsiveError || participant.isConnectionError(error)
}
