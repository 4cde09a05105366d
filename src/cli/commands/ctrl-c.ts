import type { CliOutput } from '../cli-output.js'

/** What a long command says on Ctrl-C: the first stops it at its next boundary, a second quits at once. */
export interface CtrlCMessages {
  first: string
  again: string
}

/**
 * Ctrl-C (SIGINT) as an AbortSignal while `work` runs: the first stops the work at
 * its next boundary (the work checks the signal), a second quits at once, as the
 * shell's own Ctrl-C would. Resolves with the work's result and whether Ctrl-C stopped it.
 */
export async function stoppableByCtrlC<T>(
  out: CliOutput,
  messages: CtrlCMessages,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<{ result: T; interrupted: boolean }> {
  const controller = new AbortController()
  const onInterrupt = (): void => {
    if (controller.signal.aborted) {
      process.off('SIGINT', onInterrupt)
      out.problem(messages.again)
      process.kill(process.pid, 'SIGINT')
      return
    }
    out.problem(messages.first)
    controller.abort()
  }
  process.on('SIGINT', onInterrupt)
  try {
    const result = await work(controller.signal)
    return { result, interrupted: controller.signal.aborted }
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}
