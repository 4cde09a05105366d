import { ShardUnavailableError } from '../errors.js'

/**
 * A branch's statement that was never sent: its connection had already broken (the
 * participant's `canSend` said so). The server session behind that connection can
 * only roll back what it holds, so a COMMIT refused this way proves the branch never
 * commits: the coordinator reports the transaction aborted, not in doubt.
 */
export class UnsentStatementError extends ShardUnavailableError {
  constructor(shardId: string, what: string) {
    super(shardId, `${what} was not sent: the branch's connection had already broken, so the server rolls the branch back`)
  }
}
