import { InvalidKeyError } from '../errors.js'
import { xxh32BytesInt32 } from './xxh32.js'
import { xxh32StringInt32 } from './xxh32-string.js'

// A module constant, not the import binding, so that V8 inlines the call
// without re-checking the callee on every lookup (see xxh32-string.ts).
const hashString = xxh32StringInt32

/**
 * What a shard key may be. Each kind is hashed as bytes:
 * - string: its UTF-8 encoding (lone surrogates as U+FFFD, like `TextEncoder`);
 * - number (a safe integer) and bigint: their canonical decimal text, `-` for
 *   negatives and no leading zeros, so `42`, `42n` and `'42'` route
 *   identically (and `-0` routes like `0`);
 * - Uint8Array (including Buffer): its bytes as they are.
 */
export type ShardKey = string | number | bigint | Uint8Array

// Room for "-9007199254740991", the longest safe integer in decimal.
const digits = new Uint8Array(24)

/**
 * XXH32 (seed 0) of a key's canonical bytes, as an unsigned 32-bit number.
 * Allocates nothing except for a bigint outside the safe-integer range.
 * Throws {@link InvalidKeyError} for anything that is not a {@link ShardKey}.
 */
export function hashShardKey(key: ShardKey): number {
  return hashShardKeyInt32(key) >>> 0
}

/**
 * {@link hashShardKey} as a signed 32-bit integer (same bits): the form the
 * lookup uses, because it never allocates.
 */
export function hashShardKeyInt32(key: ShardKey): number {
  // Strings, the common key, are checked first and the other kinds live in their
  // own function, so this stays small enough for V8 to inline into a lookup.
  return typeof key === 'string' ? hashString(key, 0) : hashOtherKeyInt32(key)
}

function hashOtherKeyInt32(key: unknown): number {
  if (typeof key === 'number') {
    if (!Number.isSafeInteger(key)) throw new InvalidKeyError(describeBadNumber(key))
    return hashDecimal(key)
  }
  if (typeof key === 'bigint') {
    if (key >= MIN_SAFE && key <= MAX_SAFE) return hashDecimal(Number(key))
    return xxh32StringInt32(key.toString(), 0)
  }
  if (isUint8Array(key)) return xxh32BytesInt32(key, 0, 0, key.length)
  throw new InvalidKeyError(describeBadKey(key))
}

// Module constants: negating a bigint allocates a new one on every call.
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = -MAX_SAFE

function hashDecimal(n: number): number {
  // Written right to left into a fixed buffer; n % 10 and (n - d) / 10 are
  // exact for safe integers, so this matches String(n) digit for digit.
  let end = digits.length
  let rest = Math.abs(n)
  do {
    const d = rest % 10
    digits[--end] = 0x30 + d
    rest = (rest - d) / 10
  } while (rest > 0)
  if (n < 0) digits[--end] = 0x2d
  return xxh32BytesInt32(digits, 0, end, digits.length)
}

// The tag check also accepts Buffers and arrays from other realms (vm, workers),
// and rejects Uint8ClampedArray and the wider typed arrays, whose byte order
// would silently depend on the platform.
function isUint8Array(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'Uint8Array'
}

function describeBadNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN is not an integer'
  if (!Number.isFinite(n)) return `${n} is not an integer`
  if (!Number.isInteger(n)) return `${n} is not an integer`
  return `${n} is outside the safe integer range (±2^53 - 1); pass it as a bigint or a string`
}

function describeBadKey(key: unknown): string {
  const expected = 'expected a string, safe integer, bigint or Uint8Array'
  if (key === undefined) return `got undefined; ${expected}`
  if (key === null) return `got null; ${expected}`
  if (ArrayBuffer.isView(key)) return `got a ${(key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag]}; ${expected}`
  if (Array.isArray(key)) return `got an array; ${expected}`
  return `got ${typeof key === 'object' ? 'an object' : `a ${typeof key}`}; ${expected}`
}
