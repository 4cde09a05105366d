import { MAX_TIMER_MS, plainObject, rejectUnknownKeys, requiredIntegerAtLeast } from '../config/validate.js'
import { ConfigError, isRetryable } from '../errors.js'
import { pause } from '../protocol/pause.js'

/**
 * Opt-in re-runs of a whole transaction after an error that says `retryable: true`:
 * a conflict the servers resolved by failing it (serialization failure, deadlock,
 * lock timeout), a shard that could not be reached or gave no pooled connection in
 * time, or an abort caused by either. All of them happen before the decision.
 *
 * ```ts
 * await cluster.transaction(work, { retry: { attempts: 5, backoff: (n) => 10 * 2 ** n } })
 * ```
 */
export interface RetryOptions {
  /** Attempts in all, the first included (≥ 1). */
  attempts: number
  /** ms to wait before attempt n+1: a number, or a function of n (1-based) and the error. Default: 10·2ⁿ⁻¹ ms with full jitter, at most 1 s. */
  backoff?: number | ((attempt: number, error: unknown) => number)
}

export function resolveRetry(field: string, value: unknown): RetryOptions | undefined {
  if (value === undefined) return undefined
  const options = plainObject(field, value, '{ attempts: 3 }')
  rejectUnknownKeys(field, options, ['attempts', 'backoff'])
  const attempts = requiredIntegerAtLeast(`${field}.attempts`, options.attempts, 1)
  const backoff = options.backoff as RetryOptions['backoff']
  const fixed = typeof backoff === 'number' && Number.isFinite(backoff) && backoff >= 0 && backoff <= MAX_TIMER_MS
  if (backoff !== undefined && !fixed && typeof backoff !== 'function') {
    throw new ConfigError(`${field}.backoff`, `must be a number of ms from 0 to ${MAX_TIMER_MS} or a function (attempt, error) => ms`)
  }
  return { attempts, ...(backoff === undefined ? {} : { backoff }) }
}

/**
 * Re-runs `attempt` while it fails with an error that says it is retryable
 * ({@link isRetryable}: what `retryable` claims is what is retried). Every such error
 * is raised before the decision, with nothing committed anywhere; a failure after the
 * decision is not an error (the transaction committed) and in-doubt is never retryable.
 * `attempt` is given its 1-based number. `instead`, when given, may replace a failed
 * attempt's error (with one that is then judged in its place). Any of `wake` aborted
 * ends a backoff early (the caller's signal, the cluster closing): the next attempt
 * then starts at once and refuses to run, as it does when the signal was aborted
 * before it.
 */
export async function withRetry<T>(
  retry: RetryOptions | undefined,
  attempt: (n: number) => Promise<T>,
  instead?: (error: unknown) => unknown,
  wake: readonly (AbortSignal | undefined)[] = [],
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (failure) {
      const error = instead === undefined ? failure : instead(failure)
      if (retry === undefined || n >= retry.attempts || !isRetryable(error)) throw error
      await pause(delayMs(retry, n, error), wake)
    }
  }
}

function delayMs(retry: RetryOptions, n: number, error: unknown): number {
  const { backoff } = retry
  if (typeof backoff === 'number') return backoff
  // Clamped to what a timer can wait: past it Node.js would fire after 1 ms.
  if (typeof backoff === 'function') return Math.min(MAX_TIMER_MS, Math.max(0, Number(backoff(n, error)) || 0))
  return Math.random() * Math.min(1000, 10 * 2 ** (n - 1))
}
