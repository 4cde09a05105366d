const cleanups = new Set<() => void>()
let installed = false

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * Runs `cleanup` (synchronous: nothing async runs at exit) when this process
 * exits or is told to terminate, unless the returned function unregisters it
 * first. Servers are started detached, so without this they would outlive a
 * test run that is interrupted.
 *
 * A signal normally kills Node without an 'exit' event; vitest ends its fork
 * workers with SIGTERM. So SIGINT/SIGTERM/SIGHUP run the cleanups too, and
 * when no one else listens for that signal the default action (termination)
 * is restored and the signal raised again.
 *
 * ```ts
 * const unregister = onProcessExit(() => killEverythingSync())
 * // … later, after an orderly shutdown:
 * unregister()
 * ```
 */
export function onProcessExit(cleanup: () => void): () => void {
  install()
  cleanups.add(cleanup)
  return () => {
    cleanups.delete(cleanup)
  }
}

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup)
    try {
      cleanup()
    } catch {
      // Best effort: one failed cleanup must not keep the others from running.
    }
  }
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', runCleanups)
  for (const signal of SIGNALS) {
    const onSignal = (): void => {
      runCleanups()
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal)
        process.kill(process.pid, signal)
      }
    }
    process.on(signal, onSignal)
  }
}
