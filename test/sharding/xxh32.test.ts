import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { xxh32Bytes } from '../../src/sharding/xxh32.js'
import { xxh32String } from '../../src/sharding/xxh32-string.js'
import { prng } from './helpers/prng.js'
import { sanityBuffer } from './helpers/sanity-buffer.js'

const ascii = (s: string) => new TextEncoder().encode(s)
const fromLz4 = JSON.parse(readFileSync(new URL('./fixtures/xxh32-vectors.json', import.meta.url), 'utf8')) as {
  vectors: { length: number; xxh32: string }[]
}

describe('xxh32 over bytes', () => {
  it('gives the published values', () => {
    expect(xxh32Bytes(ascii(''))).toBe(0x02cc5d05)
    expect(xxh32Bytes(ascii('a'))).toBe(0x550d7456)
    expect(xxh32Bytes(ascii('abc'))).toBe(0x32d153ff)
    expect(xxh32Bytes(ascii('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f)
  })

  it("gives xxhsum's self-test values, seeded and unseeded", () => {
    const prime = 2654435761
    const cases: [number, number, number][] = [
      [0, 0, 0x02cc5d05],
      [0, prime, 0x36b78ae7],
      [1, 0, 0xcf65b03e],
      [1, prime, 0xb4545aa4],
      [14, 0, 0x1208e7e2],
      [14, prime, 0x6af1d1fe],
      [222, 0, 0x5bd11dbd],
      [222, prime, 0x58803c5f],
    ]
    for (const [length, seed, expected] of cases) expect(xxh32Bytes(sanityBuffer(length), seed)).toBe(expected)
  })

  it('matches the reference C implementation on every length 0..80 and a few long inputs', () => {
    expect(fromLz4.vectors.length).toBeGreaterThan(80)
    for (const { length, xxh32 } of fromLz4.vectors) {
      expect(xxh32Bytes(sanityBuffer(length)).toString(16).padStart(8, '0'), `length ${length}`).toBe(xxh32)
    }
  })

  it('hashes only bytes[start, end)', () => {
    const framed = new Uint8Array([9, 9, ...ascii('abc'), 9])
    expect(xxh32Bytes(framed, 0, 2, 5)).toBe(0x32d153ff)
    expect(xxh32Bytes(framed.subarray(2, 5))).toBe(0x32d153ff)
  })
})

describe('xxh32 over strings (UTF-8 on the fly)', () => {
  it('equals hashing the Buffer encoding, for random strings of every length and seed', () => {
    const random = prng(1)
    const pieces = ['a', 'é', '€', '😀', '\u0080', '\u07ff', '\u0800', '\uffff', '\ud800', '\udc00', '\udbff\udfff', 'z']
    const mismatches: string[] = []
    for (let trial = 0; trial < 3000; trial++) {
      let s = ''
      const count = random.int(48)
      for (let i = 0; i < count; i++) {
        s += random.next() < 0.5 ? String.fromCharCode(random.int(0x10000)) : random.pick(pieces)
      }
      const seed = trial % 3 === 0 ? 0 : random.uint32()
      if (xxh32String(s, seed) !== xxh32Bytes(Buffer.from(s, 'utf8'), seed)) mismatches.push(JSON.stringify(s))
    }
    expect(mismatches).toEqual([])
  })

  it('equals hashing the bytes for ASCII strings around the 16-byte stripe boundaries', () => {
    for (let length = 0; length < 70; length++) {
      const s = 'user:0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ!'.slice(0, length)
      expect(xxh32String(s)).toBe(xxh32Bytes(ascii(s)))
      // The same string with one non-ASCII char takes the general path.
      const t = s + 'ß'
      expect(xxh32String(t)).toBe(xxh32Bytes(Buffer.from(t)))
    }
  })

  it('equals hashing the Buffer encoding for short keys with one non-ASCII char at any position', () => {
    // Keys under 16 chars are read in straight-line code that checks for
    // non-ASCII chars only at the end; every position must still be caught.
    const mismatches: string[] = []
    for (let length = 1; length < 20; length++) {
      for (let at = 0; at < length; at++) {
        for (const odd of ['\u0080', 'é', '€', '\uffff', '😀', '\ud800']) {
          const s = 'user:0123456789abcdef'.slice(0, at) + odd + 'user:0123456789abcdef'.slice(at + 1, length)
          if (xxh32String(s) !== xxh32Bytes(Buffer.from(s, 'utf8'))) mismatches.push(JSON.stringify(s))
        }
      }
    }
    expect(mismatches).toEqual([])
  })

  it('encodes lone surrogates as U+FFFD, like TextEncoder', () => {
    expect(xxh32String('a\ud800b')).toBe(xxh32String('a\ufffdb'))
    expect(xxh32String('\udc00')).toBe(xxh32Bytes(new Uint8Array([0xef, 0xbf, 0xbd])))
    expect(xxh32String('x\ud83d')).toBe(xxh32Bytes(new TextEncoder().encode('x\ud83d')))
  })

  it('encodes a surrogate pair as one 4-byte code point', () => {
    expect(xxh32String('😀')).toBe(xxh32Bytes(new Uint8Array([0xf0, 0x9f, 0x98, 0x80])))
  })
})
