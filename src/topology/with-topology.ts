import { ShardUnavailableError, StaleTopologyError, TransactionAbortedError } from '../errors.js'
import { withDeadline } from '../protocol/deadline.js'
import type { TopologyState } from './topology-state.js'

/**
 * One attempt of a transaction under the stored topology: loads it first when this
 * process has not (first use, or a shard refused the previous attempt as stale).
 *
 * The attempt waits at most `waitMs` (its timeout) for the load. The load's own
 * statements are bounded too, but by `timeouts.recovery`, several in a row, and
 * shared by every transaction that waits: a log shard that stopped answering fails
 * the attempt with a retryable ShardUnavailableError instead of holding it longer.
 */
export async function withTopology<T>(state: TopologyState, waitMs: number, attempt: () => Promise<T>): Promise<T> {
  const loading = state.ready()
  if (loading !== undefined) {
    await withDeadline(
      loading,
      waitMs,
      () => new ShardUnavailableError(state.logShardId, `the stored topology did not load within the transaction's timeout (${waitMs} ms)`),
    )
  }
  try {
    return await attempt()
  } catch (error) {
    if (isStale(error)) state.invalidate()
    throw error
  }
}

export function isStale(error: unknown): boolean {
  return error instanceof StaleTopologyError || (error instanceof TransactionAbortedError && error.cause instanceof StaleTopologyError)
}
