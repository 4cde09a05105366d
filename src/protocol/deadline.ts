import { MAX_TIMER_MS } from '../config/validate.js'

/**
 * Settles as `work` does, unless `ms` pass first: then `onMiss` runs and its error
 * is thrown. `onMiss` closes whatever the work runs on (its connection), so the
 * abandoned work ends as well instead of holding a pooled connection forever: a
 * driver waits on a black-holed socket until TCP gives up, about 15 minutes.
 * A bound of 0 or less misses at once.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onMiss: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (ms <= 0) return missed(work, onMiss, reject)
    // An inline arrow, not a named one: where names are kept (tsx), naming costs a call per statement.
    // Capped: a sum of bounds past a timer's limit would otherwise fire after 1 ms.
    const timer = setTimeout(() => missed(work, onMiss, reject), ms < MAX_TIMER_MS ? ms : MAX_TIMER_MS)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

function missed(work: Promise<unknown>, onMiss: () => Error, reject: (error: Error) => void): void {
  // The work's own failure, once its connection is gone, is no longer anyone's concern.
  work.catch(() => {})
  reject(onMiss())
}

/** ms left until `deadline` (ms since epoch); 0 once it has passed. */
export function msUntil(deadline: number): number {
  return Math.max(0, deadline - Date.now())
}
