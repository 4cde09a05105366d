import { isolationLevelOption, type ResolvedClusterConfig, timeoutOption } from '../config/cluster-options.js'
import { plainObject, positiveMs, rejectUnknownKeys } from '../config/validate.js'
import { ConfigError } from '../errors.js'
import type { BranchOptions, IsolationLevel } from '../protocol/participant.js'
import { resolveRetry, type RetryOptions } from './retry.js'

/**
 * Options of one `cluster.transaction()`; each falls back to the cluster's.
 *
 * ```ts
 * await cluster.transaction(work, { timeout: 5_000, isolationLevel: 'serializable', signal })
 * ```
 */
export interface TransactionOptions {
  /** ms for the callback and the prepare phase together; past it the transaction aborts. */
  timeout?: number
  isolationLevel?: IsolationLevel
  /** Lock wait limit of each branch, in ms. */
  lockTimeout?: number
  /** Aborting it aborts the transaction, as long as no decision was made. */
  signal?: AbortSignal
  /** Re-run the whole callback after an error that says `retryable: true` (a conflict, an unavailable shard), all raised before the decision. */
  retry?: RetryOptions
  /**
   * Start a transaction of its own even when called inside a running one. By
   * default a `cluster.transaction()` inside another joins it (AsyncLocalStorage).
   */
  independent?: boolean
}

export interface ResolvedTransactionOptions {
  timeoutMs: number
  branch: BranchOptions
  signal: AbortSignal | undefined
  retry: RetryOptions | undefined
  independent: boolean
}

const KEYS = ['timeout', 'isolationLevel', 'lockTimeout', 'signal', 'retry', 'independent']

export function resolveTransactionOptions(input: unknown, cluster: ResolvedClusterConfig): ResolvedTransactionOptions {
  const options = plainObject('transaction options', input) as TransactionOptions
  rejectUnknownKeys('transaction options', options, KEYS)
  if (options.independent !== undefined && typeof options.independent !== 'boolean') {
    throw new ConfigError('transaction options.independent', 'must be true or false')
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigError('transaction options.signal', 'must be an AbortSignal')
  }
  return {
    timeoutMs: timeoutOption('transaction options.timeout', options.timeout) ?? cluster.timeoutMs,
    branch: {
      isolationLevel: isolationLevelOption('transaction options.isolationLevel', options.isolationLevel) ?? cluster.isolationLevel,
      lockTimeoutMs: positiveMs('transaction options.lockTimeout', options.lockTimeout) ?? cluster.lockTimeoutMs,
    },
    signal: options.signal,
    retry: resolveRetry('transaction options.retry', options.retry),
    independent: options.independent ?? false,
  }
}
