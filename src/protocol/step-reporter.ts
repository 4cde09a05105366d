import type { Logger } from '../logger.js'
import type { StepEvent, StepHook } from './protocol-steps.js'

/**
 * Makes the function the protocol reports its steps through: a debug log line
 * per step when a logger was given, and the user's `onStep` hook, whose errors
 * are logged and ignored. With neither it does nothing and allocates nothing.
 */
export function stepReporter(
  hook: StepHook | undefined,
  logger: Logger | undefined,
): (event: StepEvent) => Promise<void> | undefined {
  if (hook === undefined && logger === undefined) return () => undefined
  return (event) => {
    logger?.debug({ txId: event.txId, shardId: event.shardId, decision: event.decision }, event.step)
    if (hook === undefined) return undefined
    try {
      const result = hook(event)
      return result instanceof Promise ? result.catch((error) => logger?.warn({ err: error }, 'onStep hook failed')) : undefined
    } catch (error) {
      logger?.warn({ err: error }, 'onStep hook failed')
      return undefined
    }
  }
}
