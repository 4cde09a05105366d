import { ConfigError } from '../errors.js'

/*
 * The checks the option readers share (cluster config, transaction options and
 * their retry, table declarations, migration options, the testing cluster's
 * options), so the same mistake reads the same everywhere: each throws a
 * ConfigError naming the field.
 */

/**
 * `value` when it is a function, else a ConfigError naming `field`: for callbacks
 * and hooks, refused when they are handed over rather than when first called.
 */
export function functionOption<F extends (...args: never[]) => unknown>(field: string, value: unknown): F {
  if (typeof value !== 'function') throw new ConfigError(field, `must be a function, got ${value === null ? 'null' : typeof value}`)
  return value as F
}

export function booleanOption(field: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigError(field, 'must be a boolean (true or false)')
  return value as boolean | undefined
}

/**
 * The longest wait a Node.js timer can hold (2^31 - 1 ms, about 24.8 days). Node
 * runs a longer `setTimeout` after 1 ms instead, with only a warning: a bound or an
 * interval above it would fire at once, every time.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A duration in ms above 0; at most {@link MAX_TIMER_MS} unless `max` says otherwise (an age, not a timer). */
export function positiveMs(field: string, value: unknown, max = MAX_TIMER_MS): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(field, 'must be a finite number of milliseconds above 0')
  }
  if (value > max) throw tooLong(field, max)
  return value
}

export function nonNegativeMs(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(field, 'must be a finite number of milliseconds, 0 or more')
  }
  if (value > MAX_TIMER_MS) throw tooLong(field, MAX_TIMER_MS)
  return value
}

function tooLong(field: string, max: number): ConfigError {
  return new ConfigError(field, `must be at most ${max} ms${max === MAX_TIMER_MS ? " (about 24.8 days, the longest a Node.js timer waits)" : ''}`)
}

/** `value` when it is a plain object; `like` shows one in the message (`{ attempts: 3 }`). */
export function plainObject(field: string, value: unknown, like?: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(field, like === undefined ? 'must be an object' : `must be an object like ${like}`)
  }
  return value as Record<string, unknown>
}

export function rejectUnknownKeys(field: string, object: object, known: string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new ConfigError(field === 'options' ? key : `${field}.${key}`, `unknown option (known: ${known.join(', ')})`)
    }
  }
}

/** `value` when it is an integer ≥ `min` (or undefined). */
export function integerAtLeast(field: string, value: unknown, min: number): number | undefined {
  return value === undefined ? undefined : requiredIntegerAtLeast(field, value, min)
}

/** `value` when it is an integer ≥ `min`; undefined is refused too. */
export function requiredIntegerAtLeast(field: string, value: unknown, min: number): number {
  if (!(Number.isInteger(value) && (value as number) >= min)) throw new ConfigError(field, `must be an integer ≥ ${min}, got ${shown(value)}`)
  return value as number
}

/** `value` when it is an array of strings. */
export function stringArray(field: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new ConfigError(field, 'must be an array of strings')
  return value
}

/** A value as a message shows it: numbers as they are, strings quoted, anything else by its type. */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  return value === null ? 'null' : typeof value
}
