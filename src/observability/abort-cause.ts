import { ConflictError, TransactionAbortedError, TransactionTimeoutError } from '../errors.js'

/**
 * Why an attempt rolled back, as the `shardtx.abort.cause` of the aborts metric:
 * - `conflict`: the servers broke a conflict (serialization, deadlock, lock timeout); a retry may cure it;
 * - `timeout`: its timeout or its signal stopped it;
 * - `commit`: the commit protocol aborted it (a PREPARE failed, the decision was fenced);
 * - `callback`: the callback threw (its own error or a failed statement).
 */
export type AbortCause = 'conflict' | 'timeout' | 'commit' | 'callback'

export function abortCause(error: unknown): AbortCause {
  if (error instanceof ConflictError || (error instanceof TransactionAbortedError && error.cause instanceof ConflictError)) return 'conflict'
  if (error instanceof TransactionTimeoutError) return 'timeout'
  if (error instanceof TransactionAbortedError) return error.cause instanceof TransactionTimeoutError ? 'timeout' : 'commit'
  return 'callback'
}
