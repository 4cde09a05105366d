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
      if (process.listenerCount(signal) === 1 + signalExitListeners()) {
        process.removeListener(signal, onSignal)
        process.kill(process.pid, signal)
      }
    }
    process.on(signal, onSignal)
  }
}

/**
 * How many listeners signal-exit installed (testcontainers loads it through
 * proper-lockfile). It too re-raises a signal only when no one else listens,
 * counting its own instances in a global; without this, each of us would
 * wait for the other and a SIGTERMed process would live on.
 */
function signalExitListeners(): number {
  // Version 3 keeps its emitter on process, version 4 on globalThis under a symbol.
  const v3 = (process as { __signal_exit_emitter__?: { count?: number } }).__signal_exit_emitter__
  const v4 = (globalThis as { [key: symbol]: { count?: number } | undefined })[Symbol.for('signal-exit emitter')]
  return (v3?.count ?? 0) + (v4?.count ?? 0)
}
