import {
  xxh32Avalanche,
  xxh32LaneSeed,
  xxh32MergeLanes,
  xxh32Round,
  xxh32ShortSeed,
  xxh32TailByte,
  xxh32TailWord,
} from './xxh32.js'

// The steps of the short-key path, bound to module constants. V8's optimized
// code takes a module `const` as a constant and inlines the call outright; a
// call through an import binding instead reloads the binding and re-checks the
// callee on every call, several times per key.
const shortSeed = xxh32ShortSeed
const tailWord = xxh32TailWord
const tailByte = xxh32TailByte
const avalanche = xxh32Avalanche

/**
 * XXH32 of the UTF-8 encoding of `str`, computed from `charCodeAt`, reading
 * the string in place: equal to `xxh32Bytes(new TextEncoder().encode(str), seed)` for
 * every string, including lone surrogates, which encode as U+FFFD (EF BF BD)
 * exactly as `TextEncoder` and `Buffer.from(str)` do.
 */
export function xxh32String(str: string, seed = 0): number {
  return xxh32StringInt32(str, seed) >>> 0
}

/**
 * {@link xxh32String} as a signed 32-bit integer (same bits), for callers
 * that must not allocate (see `xxh32Avalanche`).
 */
export function xxh32StringInt32(str: string, seed: number): number {
  // Shard keys are nearly always short ASCII strings, so keys under 16 chars
  // are hashed here in straight-line code: no loop (each loop back edge costs
  // V8 an interrupt check) and every char read once. Chars are ORed into
  // `seen` and checked once at the end; a key with a char above 0x7f is
  // hashed again on the general UTF-8 path. Longer keys take the four-lane
  // stripe loop in its own function. The three word reads below repeat on
  // purpose: reading them through asciiWord instead measured 790-830
  // instructions per lookup against 490-570 written out.
  const n = str.length
  if (n >= 16) return xxh32LongString(str, seed)
  let h = (shortSeed(seed) + n) | 0
  let seen = 0
  let i = 0
  if (n >= 4) {
    const a = str.charCodeAt(0)
    const b = str.charCodeAt(1)
    const c = str.charCodeAt(2)
    const d = str.charCodeAt(3)
    seen = a | b | c | d
    h = tailWord(h, a | (b << 8) | (c << 16) | (d << 24))
    i = 4
    if (n >= 8) {
      const e = str.charCodeAt(4)
      const f = str.charCodeAt(5)
      const g = str.charCodeAt(6)
      const k = str.charCodeAt(7)
      seen |= e | f | g | k
      h = tailWord(h, e | (f << 8) | (g << 16) | (k << 24))
      i = 8
      if (n >= 12) {
        const l = str.charCodeAt(8)
        const m = str.charCodeAt(9)
        const o = str.charCodeAt(10)
        const p = str.charCodeAt(11)
        seen |= l | m | o | p
        h = tailWord(h, l | (m << 8) | (o << 16) | (p << 24))
        i = 12
      }
    }
  }
  if (i < n) {
    const a = str.charCodeAt(i)
    seen |= a
    h = tailByte(h, a)
    if (i + 1 < n) {
      const b = str.charCodeAt(i + 1)
      seen |= b
      h = tailByte(h, b)
      if (i + 2 < n) {
        const c = str.charCodeAt(i + 2)
        seen |= c
        h = tailByte(h, c)
      }
    }
  }
  if (seen > 0x7f) return xxh32Utf8(str, seed)
  return avalanche(h)
}

/** Keys of 16 chars or more: the stripes, four chars per word, then the tail. */
function xxh32LongString(str: string, seed: number): number {
  let v1 = xxh32LaneSeed(seed, 0)
  let v2 = xxh32LaneSeed(seed, 1)
  let v3 = xxh32LaneSeed(seed, 2)
  let v4 = xxh32LaneSeed(seed, 3)
  const n = str.length
  const limit = n - 16
  let i = 0
  while (i <= limit) {
    const w1 = asciiWord(str, i)
    const w2 = asciiWord(str, i + 4)
    const w3 = asciiWord(str, i + 8)
    const w4 = asciiWord(str, i + 12)
    if ((w1 | w2 | w3 | w4) < 0) return xxh32Utf8(str, seed)
    v1 = xxh32Round(v1, w1)
    v2 = xxh32Round(v2, w2)
    v3 = xxh32Round(v3, w3)
    v4 = xxh32Round(v4, w4)
    i += 16
  }
  return xxh32AsciiTail(str, seed, i, (xxh32MergeLanes(v1, v2, v3, v4) + n) | 0)
}

/** Hashes the chars from `i` on as XXH32's tail, then the final mix. */
function xxh32AsciiTail(str: string, seed: number, i: number, h: number): number {
  const n = str.length
  while (i + 4 <= n) {
    const word = asciiWord(str, i)
    if (word < 0) return xxh32Utf8(str, seed)
    h = xxh32TailWord(h, word)
    i += 4
  }
  while (i < n) {
    const c = str.charCodeAt(i)
    if (c > 0x7f) return xxh32Utf8(str, seed)
    h = xxh32TailByte(h, c)
    i++
  }
  return xxh32Avalanche(h)
}

/**
 * Chars `i..i+3` as a little-endian word of their bytes when all four are
 * ASCII, else -1 (an ASCII word is never negative: every byte is ≤ 0x7f).
 */
function asciiWord(str: string, i: number): number {
  const a = str.charCodeAt(i)
  const b = str.charCodeAt(i + 1)
  const c = str.charCodeAt(i + 2)
  const d = str.charCodeAt(i + 3)
  if ((a | b | c | d) > 0x7f) return -1
  return a | (b << 8) | (c << 16) | (d << 24)
}

/** The general path: encodes UTF-8 on the fly and feeds the bytes through XXH32. */
function xxh32Utf8(str: string, seed: number): number {
  const len = utf8Length(str)
  // XXH32 consumes whole 16-byte stripes while at least 16 bytes remain and
  // treats the rest as tail, so knowing `len` tells where each word belongs.
  const stripeEnd = len >= 16 ? len - (len & 15) : 0
  let v1 = xxh32LaneSeed(seed, 0)
  let v2 = xxh32LaneSeed(seed, 1)
  let v3 = xxh32LaneSeed(seed, 2)
  let v4 = xxh32LaneSeed(seed, 3)
  let h = stripeEnd === 0 ? (xxh32ShortSeed(seed) + len) | 0 : 0
  let word = 0
  let shift = 0
  let offset = 0
  const n = str.length
  for (let i = 0; i < n; i++) {
    let cp = str.charCodeAt(i)
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const low = cp <= 0xdbff && i + 1 < n ? str.charCodeAt(i + 1) : 0
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00)
        i++
      } else {
        cp = 0xfffd
      }
    }
    let packed: number
    let count: number
    if (cp < 0x80) {
      packed = cp
      count = 1
    } else if (cp < 0x800) {
      packed = (0xc0 | (cp >> 6)) | ((0x80 | (cp & 0x3f)) << 8)
      count = 2
    } else if (cp < 0x10000) {
      packed = (0xe0 | (cp >> 12)) | ((0x80 | ((cp >> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16)
      count = 3
    } else {
      packed =
        (0xf0 | (cp >> 18)) |
        ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
        ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
        ((0x80 | (cp & 0x3f)) << 24)
      count = 4
    }
    for (let k = 0; k < count; k++) {
      word |= ((packed >>> (k * 8)) & 0xff) << shift
      shift += 8
      if (shift !== 32) continue
      if (offset < stripeEnd) {
        const lane = (offset >>> 2) & 3
        if (lane === 0) v1 = xxh32Round(v1, word)
        else if (lane === 1) v2 = xxh32Round(v2, word)
        else if (lane === 2) v3 = xxh32Round(v3, word)
        else v4 = xxh32Round(v4, word)
        if (offset + 4 === stripeEnd) h = (xxh32MergeLanes(v1, v2, v3, v4) + len) | 0
      } else {
        h = xxh32TailWord(h, word)
      }
      offset += 4
      word = 0
      shift = 0
    }
  }
  for (let k = 0; k < shift; k += 8) h = xxh32TailByte(h, (word >>> k) & 0xff)
  return xxh32Avalanche(h)
}

/** Bytes of the UTF-8 encoding, with each lone surrogate counted as U+FFFD (3 bytes). */
function utf8Length(str: string): number {
  const n = str.length
  let len = 0
  for (let i = 0; i < n; i++) {
    const c = str.charCodeAt(i)
    if (c < 0x80) len += 1
    else if (c < 0x800) len += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = str.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        len += 4
        i++
      } else {
        len += 3
      }
    } else len += 3
  }
  return len
}
