import { StaleTopologyError, TransactionAbortedError } from '../errors.js'
import type { TopologyState } from './topology-state.js'

/**
 * One attempt of a transaction under the stored topology: loads it first when this
 * process has not (first use, or a shard refused the previous attempt as stale).
 */
export async function withTopology<T>(state: TopologyState, attempt: () => Promise<T>): Promise<T> {
  const loading = state.ready()
  if (loading !== undefined) await loading
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
