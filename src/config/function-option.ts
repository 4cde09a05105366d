import { ConfigError } from '../errors.js'

/**
 * `value` when it is a function, else a ConfigError naming `field`: for callbacks
 * and hooks, refused when they are handed over rather than when first called.
 *
 * ```ts
 * const hook = functionOption('afterCommit(hook)', hook) // throws "afterCommit(hook): must be a function, got null"
 * ```
 */
export function functionOption<F extends (...args: never[]) => unknown>(field: string, value: unknown): F {
  if (typeof value !== 'function') throw new ConfigError(field, `must be a function, got ${value === null ? 'null' : typeof value}`)
  return value as F
}
