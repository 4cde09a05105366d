import { ShardUnavailableError } from '../errors.js'

/**
 * A branch's statement that was never sent: its connection had already broken (the
 * participant's `canSend` said so), or no time was left of its bound (the connection
 * is then closed). The server session behind that connection can only roll back what
 * it holds, so a COMMIT refused this way proves the branch never commits: the
 * coordinator reports the transaction aborted, not in doubt.
 */
export class UnsentStatementError extends ShardUnavailableError {
  constructor(shardId: string, what: string, why: 'broken' | 'no time left') {
    super(
      shardId,
      why === 'broken'
        ? `${what} was not sent: the branch's connection had already broken, so the server rolls the branch back`
        : `${what} was not sent: no time was left of its bound; its connection was closed`,
    )
  }
}
