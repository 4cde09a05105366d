import type { ClusterRuntime } from '../cluster-runtime.js'
import { commitTransaction, rollbackTransaction } from '../protocol/coordinator.js'
import { TransactionAbortedError, TransactionInDoubtError, TransactionTimeoutError } from '../errors.js'
import { timeoutReason, type Transaction } from './transaction.js'
import { TransactionContext } from './transaction-context.js'
import type { ResolvedTransactionOptions } from './transaction-options.js'

/**
 * One attempt of a transaction: runs the callback, then commits, or rolls back
 * when the callback throws, times out or is aborted by its signal. The outcome
 * hooks registered on the transaction run once the outcome is known.
 */
export async function runTransaction<T>(
  rt: ClusterRuntime,
  work: (tx: Transaction) => Promise<T> | T,
  options: ResolvedTransactionOptions,
  enter: (tx: Transaction, run: () => Promise<T>) => Promise<T>,
): Promise<T> {
  const tx = new TransactionContext(rt, options.timeoutMs, options.branch)
  const { signal } = options
  if (signal?.aborted) throw new TransactionAbortedError(tx.id, 'its signal was aborted before it started', signalReason(signal))
  const started = performance.now()
  const timer = setTimeout(() => tx.abort(timeoutReason(options.timeoutMs)), options.timeoutMs)
  const onSignal = (): void => tx.abort(signalReason(signal!))
  signal?.addEventListener('abort', onSignal, { once: true })
  let outcome: 'committed' | 'rolled back' | 'unknown' = 'rolled back'
  try {
    let value: T
    try {
      value = await enter(tx.transaction, () => tx.runCallback(work))
      await tx.settled()
      if (tx.abortReason !== undefined) throw tx.abortReason
    } catch (error) {
      await tx.settled()
      await rollbackTransaction(rt, tx)
      if (tx.abortReason !== undefined) throw new TransactionAbortedError(tx.id, tx.abortReason.message, tx.abortReason)
      throw error
    }
    try {
      await commitTransaction(rt, tx)
    } catch (error) {
      if (error instanceof TransactionInDoubtError) outcome = 'unknown'
      throw error
    }
    outcome = 'committed'
    rt.stats.recordCommitLatency(performance.now() - started)
    return value
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onSignal)
    tx.setState('finished')
    await tx.runOutcomeHooks(outcome)
  }
}

function signalReason(signal: AbortSignal): TransactionTimeoutError {
  const reason = new TransactionTimeoutError('aborted by its signal')
  ;(reason as { cause?: unknown }).cause = signal.reason
  return reason
}
