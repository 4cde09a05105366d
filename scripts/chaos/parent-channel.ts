/**
 * The IPC channel of a chaos child (a worker or the mover) to scripts/chaos.ts:
 * a `send` that drops messages once the parent is gone, and the two exits every
 * child needs. The parent gone (it never is, unless it crashed): nobody would
 * count our work, so exit. A stray error must not end the child silently: say
 * it, and let the parent count the exit.
 */
export function parentChannel<M>(): (message: M) => void {
  process.on('disconnect', () => process.exit(0))
  process.on('unhandledRejection', (error) => {
    process.stderr.write(`unhandled rejection: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(3)
  })
  return (message) => {
    if (process.connected) process.send!(message)
  }
}
