import type { ClusterRuntime } from '../cluster-runtime.js'
import { commitTransaction, rollbackTransaction } from '../protocol/coordinator.js'
import { ConflictError, TransactionAbortedError, TransactionInDoubtError, TransactionTimeoutError } from '../errors.js'
import { timeoutReason, type Transaction } from './transaction.js'
import { TransactionContext } from './transaction-context.js'
import type { ResolvedTransactionOptions } from './transaction-options.js'
import type { CommitPath } from '../protocol/protocol-steps.js'

/**
 * One attempt of a transaction, once admitted (docs/deadlocks.md): runs the
 * callback, then commits, or rolls back when the callback throws, times out or is
 * aborted by its signal or the deadlock detector. The outcome hooks registered on
 * the transaction run once the outcome is known. The attempt (1-based) runs in its
 * telemetry span's context, callback and commit alike. `leftMs` is what is left of
 * its `timeout` (less when it waited for the lane after its admission).
 */
export async function runTransaction<T>(
  rt: ClusterRuntime,
  work: (tx: Transaction) => Promise<T> | T,
  options: ResolvedTransactionOptions,
  enter: (tx: Transaction, run: () => Promise<T>) => Promise<T>,
  firstStartedAt: number,
  attempt = 1,
  leftMs = options.timeoutMs,
): Promise<T> {
  const tx = new TransactionContext(rt, leftMs, options.branch, firstStartedAt)
  const { signal } = options
  if (signal?.aborted) throw new TransactionAbortedError(tx.id, 'its signal was aborted before it started', signalReason(signal))
  const started = performance.now()
  const timer = setTimeout(() => tx.abort(timeoutReason(options.timeoutMs)), leftMs)
  const onSignal = (): void => tx.abort(signalReason(signal!))
  signal?.addEventListener('abort', onSignal, { once: true })
  let outcome: 'committed' | 'rolled back' | 'unknown' = 'rolled back'
  const untrack = rt.contention.detector?.track(tx)
  const trace = rt.telemetry.startAttempt(tx.id, attempt)
  let path: CommitPath | undefined
  let failure: unknown
  try {
    let value: T
    try {
      value = await trace.run(() => enter(tx.transaction, () => tx.runCallback(work)))
      // Statements the callback did not await: wait for them, or for the timeout.
      const settling = tx.settle()
      if (settling !== undefined) await settling
      if (tx.abortReason !== undefined) throw tx.abortReason
      // The callback caught a conflict that rolled a branch back and returned: it cannot commit, but may retry.
      const rolledBack = tx.rolledBackBy()
      if (rolledBack !== undefined) throw rolledBack
    } catch (error) {
      // Cancelled statements get the rollback bound to stop; a cancel that cannot reach its
      // shard does not extend it (the connection is closed instead).
      const rollbackBy = Date.now() + rt.config.timeouts.rollbackMs
      const settlingBy = tx.settle(rollbackBy)
      if (settlingBy !== undefined) await settlingBy
      await trace.run(() => rollbackTransaction(rt, tx, rollbackBy))
      // A deadlock victim gets the ConflictError itself, as for a deadlock a server broke.
      if (tx.abortReason instanceof ConflictError) throw tx.abortReason
      if (tx.abortReason !== undefined) throw new TransactionAbortedError(tx.id, tx.abortReason.message, tx.abortReason)
      throw error
    }
    try {
      path = await trace.run(() => commitTransaction(rt, tx))
    } catch (error) {
      if (error instanceof TransactionInDoubtError) outcome = 'unknown'
      throw error
    }
    outcome = 'committed'
    rt.stats.recordCommitLatency(performance.now() - started)
    return value
  } catch (error) {
    failure = error
    throw error
  } finally {
    untrack?.()
    clearTimeout(timer)
    signal?.removeEventListener('abort', onSignal)
    tx.setState('finished')
    trace.end({ outcome, path, shards: tx.shards, error: failure })
    await tx.runOutcomeHooks(outcome)
  }
}

function signalReason(signal: AbortSignal): TransactionTimeoutError {
  const reason = new TransactionTimeoutError('aborted by its signal')
  ;(reason as { cause?: unknown }).cause = signal.reason
  return reason
}
