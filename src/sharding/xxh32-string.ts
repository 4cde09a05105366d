import {
  xxh32Avalanche,
  xxh32LaneSeed,
  xxh32MergeLanes,
  xxh32Round,
  xxh32ShortSeed,
  xxh32TailByte,
  xxh32TailWord,
} from './xxh32.js'

/**
 * XXH32 of the UTF-8 encoding of `str`, computed from `charCodeAt`, reading
 * the string in place: equal to `xxh32Bytes(new TextEncoder().encode(str), seed)` for
 * every string, including lone surrogates, which encode as U+FFFD (EF BF BD)
 * exactly as `TextEncoder` and `Buffer.from(str)` do.
 *
 * ```ts
 * xxh32String('abc') // 0x32d153ff
 * xxh32String('é') === xxh32Bytes(Buffer.from('é')) // true
 * ```
 */
export function xxh32String(str: string, seed = 0): number {
  return xxh32StringInt32(str, seed) >>> 0
}

/**
 * {@link xxh32String} as a signed 32-bit integer (same bits), for callers
 * that must not allocate (see `xxh32Avalanche`).
 *
 * ```ts
 * const slot = xxh32StringInt32('user:42', 0) >>> 12
 * ```
 */
export function xxh32StringInt32(str: string, seed: number): number {
  // Shard keys are nearly always ASCII, where UTF-8 is one byte per char and
  // the byte length is known up front: hash four chars per word and only
  // afterwards check that they really were ASCII.
  const n = str.length
  let i = 0
  let seen = 0
  let h: number
  if (n >= 16) {
    let v1 = xxh32LaneSeed(seed, 0)
    let v2 = xxh32LaneSeed(seed, 1)
    let v3 = xxh32LaneSeed(seed, 2)
    let v4 = xxh32LaneSeed(seed, 3)
    const limit = n - 16
    while (i <= limit) {
      let a = str.charCodeAt(i)
      let b = str.charCodeAt(i + 1)
      let c = str.charCodeAt(i + 2)
      let d = str.charCodeAt(i + 3)
      seen |= a | b | c | d
      v1 = xxh32Round(v1, a | (b << 8) | (c << 16) | (d << 24))
      a = str.charCodeAt(i + 4)
      b = str.charCodeAt(i + 5)
      c = str.charCodeAt(i + 6)
      d = str.charCodeAt(i + 7)
      seen |= a | b | c | d
      v2 = xxh32Round(v2, a | (b << 8) | (c << 16) | (d << 24))
      a = str.charCodeAt(i + 8)
      b = str.charCodeAt(i + 9)
      c = str.charCodeAt(i + 10)
      d = str.charCodeAt(i + 11)
      seen |= a | b | c | d
      v3 = xxh32Round(v3, a | (b << 8) | (c << 16) | (d << 24))
      a = str.charCodeAt(i + 12)
      b = str.charCodeAt(i + 13)
      c = str.charCodeAt(i + 14)
      d = str.charCodeAt(i + 15)
      seen |= a | b | c | d
      v4 = xxh32Round(v4, a | (b << 8) | (c << 16) | (d << 24))
      i += 16
    }
    h = xxh32MergeLanes(v1, v2, v3, v4)
  } else {
    h = xxh32ShortSeed(seed)
  }
  h = (h + n) | 0
  while (i + 4 <= n) {
    const a = str.charCodeAt(i)
    const b = str.charCodeAt(i + 1)
    const c = str.charCodeAt(i + 2)
    const d = str.charCodeAt(i + 3)
    seen |= a | b | c | d
    h = xxh32TailWord(h, a | (b << 8) | (c << 16) | (d << 24))
    i += 4
  }
  while (i < n) {
    const a = str.charCodeAt(i)
    seen |= a
    h = xxh32TailByte(h, a)
    i++
  }
  if (seen > 0x7f) return xxh32Utf8(str, seed)
  return xxh32Avalanche(h)
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
