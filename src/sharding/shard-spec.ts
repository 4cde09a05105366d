import { ConfigError } from '../errors.js'

/**
 * A shard as the caller describes it. Other fields (dialect, connection, …)
 * are ignored, so a cluster's shard configs can be passed as they are.
 */
export interface ShardSpec {
  /** Stable name; routing depends on it (its exact code points, no normalization). */
  readonly id: string
  /** Relative share of keys, default 1. */
  readonly weight?: number | undefined
}

/**
 * A validated shard: the id and its effective weight.
 */
export interface Shard {
  readonly id: string
  readonly weight: number
}

/**
 * Most shards a ring accepts. Beyond this a shard owns fewer than 256 of the
 * 2^20 slots and its share drifts by ±6 % or more from its weight.
 */
export const MAX_SHARDS = 4096

/**
 * Smallest weight accepted. Bounding the weights keeps every score
 * `weight / -ln(u)` a normal double (no overflow to Infinity, no subnormals),
 * so scores never tie by saturation.
 */
export const MIN_WEIGHT = 1e-9

/**
 * Largest weight accepted; see {@link MIN_WEIGHT}.
 */
export const MAX_WEIGHT = 1e9

/**
 * Validates a shard list and returns it in canonical order: ids sorted by
 * their UTF-8 bytes (the order that breaks score ties). Throws a
 * {@link ConfigError} naming the offending field, e.g. `shards[2].weight`
 * (`name` is the list's name in that field: `topology` for a topology change's target).
 */
export function validateShards(shards: unknown, name = 'shards'): Shard[] {
  if (!Array.isArray(shards)) throw new ConfigError(name, 'must be an array of { id, weight? }')
  if (shards.length === 0) throw new ConfigError(name, 'must list at least one shard')
  if (shards.length > MAX_SHARDS) {
    throw new ConfigError(name, `lists ${shards.length} shards; at most ${MAX_SHARDS} are supported`)
  }
  const seen = new Map<string, number>()
  const valid: { id: string; weight: number; bytes: Uint8Array }[] = []
  const encoder = new TextEncoder()
  // By index, not forEach: a hole in a sparse array is a missing shard, not nothing.
  for (let i = 0; i < shards.length; i++) {
    const shard: unknown = shards[i]
    const field = `${name}[${i}]`
    if (typeof shard !== 'object' || shard === null) throw new ConfigError(field, `must be an object { id, weight? }, got ${describe(shard)}`)
    const { id, weight } = shard as { id?: unknown; weight?: unknown }
    if (typeof id !== 'string') throw new ConfigError(`${field}.id`, `must be a string, got ${describe(id)}`)
    if (id.length === 0) throw new ConfigError(`${field}.id`, 'must not be empty')
    // A lone surrogate encodes as U+FFFD, so two different ids could hash alike.
    if (hasLoneSurrogate(id)) throw new ConfigError(`${field}.id`, 'contains a lone surrogate; ids must be well-formed Unicode')
    const first = seen.get(id)
    if (first !== undefined) throw new ConfigError(`${field}.id`, `duplicates ${name}[${first}].id (${JSON.stringify(id)})`)
    seen.set(id, i)
    valid.push({ id, weight: validWeight(weight, `${field}.weight`), bytes: encoder.encode(id) })
  }
  valid.sort((a, b) => compareBytes(a.bytes, b.bytes))
  return valid.map(({ id, weight }) => Object.freeze({ id: internalized(id), weight }))
}

// The ring returns these ids on every lookup and callers compare them, often
// with a literal. V8 tells two internalized strings apart by pointer; any
// other pair of equal-length strings goes through a call comparing chars.
// A property key is internalized, so this returns the internalized copy.
function internalized(id: string): string {
  return Object.keys({ [id]: 0 })[0]!
}

/** A shard's weight by the ring's rule (default 1), or a ConfigError naming `field`. */
export function validWeight(weight: unknown, field: string): number {
  if (weight === undefined) return 1
  if (typeof weight !== 'number') throw new ConfigError(field, `must be a number, got ${describe(weight)}`)
  if (!Number.isFinite(weight)) throw new ConfigError(field, `must be finite, got ${weight}`)
  if (weight <= 0) throw new ConfigError(field, `must be greater than 0, got ${weight}`)
  if (weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
    throw new ConfigError(field, `must be between ${MIN_WEIGHT} and ${MAX_WEIGHT}, got ${weight}`)
  }
  return weight
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    const next = s.charCodeAt(i + 1)
    if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return true
    i++
  }
  return false
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value === undefined) return 'undefined'
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`
  if (typeof value === 'symbol') return 'a symbol'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}
