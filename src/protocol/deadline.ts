/**
 * Settles as `work` does, unless `ms` pass first: then `onMiss` runs and its error
 * is thrown. `onMiss` closes whatever the work runs on (its connection), so the
 * abandoned work ends as well instead of holding a pooled connection forever: a
 * driver waits on a black-holed socket until TCP gives up, about 15 minutes.
 * A bound of 0 or less misses at once.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onMiss: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const miss = (): void => {
      // The work's own failure, once its connection is gone, is no longer anyone's concern.
      work.catch(() => {})
      reject(onMiss())
    }
    if (ms <= 0) return miss()
    const timer = setTimeout(miss, ms)
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

/** ms left until `deadline` (ms since epoch); 0 once it has passed. */
export function msUntil(deadline: number): number {
  return Math.max(0, deadline - Date.now())
}
