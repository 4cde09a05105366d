/**
 * The slice of pino's API shardtx logs through; a pino logger fits as it is.
 *
 * ```ts
 * import pino from 'pino'
 * createCluster({ shards, logger: pino({ level: 'info' }) })
 * ```
 */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

const noop = (): void => {}

/** The default: says nothing and costs nothing. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
}
