/**
 * Waits `ms`, or less once one of `wake` is aborted (at once when one already is):
 * a pause between tries that the caller's signal or the cluster closing cuts short,
 * so the next try can refuse at once instead of after the pause.
 *
 * ```ts
 * await pause(backoffMs, [signal, closing])
 * ```
 */
export function pause(ms: number, wake: readonly (AbortSignal | undefined)[]): Promise<void> {
  if (wake.some((signal) => signal?.aborted === true)) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      for (const signal of wake) signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    for (const signal of wake) signal?.addEventListener('abort', done, { once: true })
  })
}
