/**
 * XXH32 (Yann Collet's xxHash, 32-bit variant) over bytes.
 *
 * The routing function is frozen: this code must keep producing the published
 * XXH32 values forever, so it follows the reference algorithm step by step
 * rather than any faster variant. All arithmetic is on 32-bit integers
 * (`Math.imul`, `| 0`, `>>>`), which is exact and identical on every platform.
 */

// The five XXH32 primes, as signed 32-bit integers so Math.imul takes them as is.
const PRIME32_1 = 0x9e3779b1 | 0
const PRIME32_2 = 0x85ebca77 | 0
const PRIME32_3 = 0xc2b2ae3d | 0
const PRIME32_4 = 0x27d4eb2f | 0
const PRIME32_5 = 0x165667b1 | 0

/**
 * Initial value of stripe lane `lane` (0..3) for inputs of 16 bytes or more.
 */
export function xxh32LaneSeed(seed: number, lane: 0 | 1 | 2 | 3): number {
  if (lane === 0) return (seed + PRIME32_1 + PRIME32_2) | 0
  if (lane === 1) return (seed + PRIME32_2) | 0
  if (lane === 2) return seed | 0
  return (seed - PRIME32_1) | 0
}

/**
 * Initial hash state for inputs shorter than 16 bytes (no stripe consumed).
 */
export function xxh32ShortSeed(seed: number): number {
  return (seed + PRIME32_5) | 0
}

/**
 * One stripe-lane round: `rotl(acc + input * P2, 13) * P1`.
 */
export function xxh32Round(acc: number, input: number): number {
  const a = (acc + Math.imul(input, PRIME32_2)) | 0
  return Math.imul((a << 13) | (a >>> 19), PRIME32_1)
}

/**
 * Merges the four lane accumulators once at least one 16-byte stripe was consumed.
 */
export function xxh32MergeLanes(v1: number, v2: number, v3: number, v4: number): number {
  return (
    (((v1 << 1) | (v1 >>> 31)) +
      ((v2 << 7) | (v2 >>> 25)) +
      ((v3 << 12) | (v3 >>> 20)) +
      ((v4 << 18) | (v4 >>> 14))) |
    0
  )
}

/**
 * Consumes one trailing 4-byte little-endian word.
 */
export function xxh32TailWord(h: number, word: number): number {
  const a = (h + Math.imul(word, PRIME32_3)) | 0
  return Math.imul((a << 17) | (a >>> 15), PRIME32_4)
}

/**
 * Consumes one trailing byte.
 */
export function xxh32TailByte(h: number, byte: number): number {
  const a = (h + Math.imul(byte, PRIME32_5)) | 0
  return Math.imul((a << 11) | (a >>> 21), PRIME32_1)
}

/**
 * Final mix. Returns the hash as a signed 32-bit integer (the same 32 bits;
 * `>>> 0` gives the unsigned value): V8 keeps int32 values unboxed across
 * calls, whereas a uint32 above 2^31 becomes a heap-allocated number, and a
 * routing lookup must not allocate.
 */
export function xxh32Avalanche(h: number): number {
  h ^= h >>> 15
  h = Math.imul(h, PRIME32_2)
  h ^= h >>> 13
  h = Math.imul(h, PRIME32_3)
  return h ^ (h >>> 16)
}

/**
 * XXH32 of `bytes[start, end)` with `seed`, as an unsigned 32-bit number.
 * Reads the bytes in place, without copying them.
 */
export function xxh32Bytes(bytes: Uint8Array, seed = 0, start = 0, end = bytes.length): number {
  return xxh32BytesInt32(bytes, seed, start, end) >>> 0
}

/**
 * {@link xxh32Bytes} as a signed 32-bit integer (same bits), for callers
 * that must not allocate.
 */
export function xxh32BytesInt32(bytes: Uint8Array, seed: number, start: number, end: number): number {
  const len = end - start
  let p = start
  let h: number
  if (len >= 16) {
    let v1 = xxh32LaneSeed(seed, 0)
    let v2 = xxh32LaneSeed(seed, 1)
    let v3 = xxh32LaneSeed(seed, 2)
    let v4 = xxh32LaneSeed(seed, 3)
    const limit = end - 16
    while (p <= limit) {
      v1 = xxh32Round(v1, readU32(bytes, p))
      v2 = xxh32Round(v2, readU32(bytes, p + 4))
      v3 = xxh32Round(v3, readU32(bytes, p + 8))
      v4 = xxh32Round(v4, readU32(bytes, p + 12))
      p += 16
    }
    h = xxh32MergeLanes(v1, v2, v3, v4)
  } else {
    h = xxh32ShortSeed(seed)
  }
  h = (h + len) | 0
  while (p + 4 <= end) {
    h = xxh32TailWord(h, readU32(bytes, p))
    p += 4
  }
  while (p < end) {
    h = xxh32TailByte(h, bytes[p]!)
    p++
  }
  return xxh32Avalanche(h)
}

function readU32(bytes: Uint8Array, p: number): number {
  return bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24)
}
