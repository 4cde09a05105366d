import { describe, expect, it } from 'vitest'
import { InvalidKeyError } from '../../src/errors.js'
import { ShardRing, hashShardKey, xxh32Bytes } from '../../src/sharding/index.js'
import { prng } from './helpers/prng.js'

const utf8 = (s: string) => new TextEncoder().encode(s)

describe('key canonicalisation', () => {
  it('hashes a string as its UTF-8 bytes', () => {
    expect(hashShardKey('abc')).toBe(0x32d153ff)
    expect(hashShardKey('Grüße, 世界 😀')).toBe(xxh32Bytes(utf8('Grüße, 世界 😀')))
    expect(hashShardKey('')).toBe(0x02cc5d05)
  })

  it('hashes Buffers and Uint8Arrays (and views into larger buffers) as their bytes', () => {
    expect(hashShardKey(Buffer.from('user:42'))).toBe(hashShardKey('user:42'))
    expect(hashShardKey(utf8('user:42'))).toBe(hashShardKey('user:42'))
    const big = utf8('xxuser:42yy')
    expect(hashShardKey(big.subarray(2, 9))).toBe(hashShardKey('user:42'))
    expect(hashShardKey(Buffer.from(big.buffer, 2, 7))).toBe(hashShardKey('user:42'))
  })

  it('hashes safe integers and bigints as canonical decimal text', () => {
    const random = prng(4)
    const samples = [0, 1, -1, 9, 10, 42, -42, 1e15, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]
    for (let i = 0; i < 2000; i++) {
      const magnitude = 10 ** random.int(16)
      samples.push(Math.floor((random.next() - 0.5) * 2 * magnitude))
    }
    for (const n of samples) {
      if (!Number.isSafeInteger(n)) continue
      const text = String(n)
      expect(hashShardKey(n), text).toBe(hashShardKey(text))
      expect(hashShardKey(BigInt(n)), text).toBe(hashShardKey(text))
    }
  })

  it('routes -0 like 0, and never treats "042" or "+42" as 42', () => {
    expect(hashShardKey(-0)).toBe(hashShardKey('0'))
    expect(hashShardKey('042')).not.toBe(hashShardKey(42))
    expect(hashShardKey('+42')).not.toBe(hashShardKey(42))
  })

  it('hashes bigints beyond the safe range as their decimal text', () => {
    for (const big of [2n ** 53n, -(2n ** 53n), 2n ** 64n + 1n, -(10n ** 30n)]) {
      expect(hashShardKey(big)).toBe(hashShardKey(big.toString()))
    }
  })

  it('routes 42, 42n, "42" and Buffer("42") to the same shard', () => {
    const ring = ShardRing.build([{ id: 'a' }, { id: 'b' }, { id: 'c' }])
    const shard = ring.shardFor('42')
    expect(ring.shardFor(42)).toBe(shard)
    expect(ring.shardFor(42n)).toBe(shard)
    expect(ring.shardFor(Buffer.from('42'))).toBe(shard)
    expect(ring.slotFor(42)).toBe(ring.slotFor('42'))
  })
})

describe('bad keys', () => {
  const cases: [string, unknown, RegExp][] = [
    ['undefined', undefined, /got undefined/],
    ['null', null, /got null/],
    ['NaN', NaN, /NaN is not an integer/],
    ['a fraction', 1.5, /1\.5 is not an integer/],
    ['Infinity', Infinity, /Infinity is not an integer/],
    ['an unsafe integer', 2 ** 53, /9007199254740992 is outside the safe integer range/],
    ['a negative unsafe integer', -(2 ** 60), /outside the safe integer range/],
    ['an object', { id: 1 }, /got an object/],
    ['an array', [1, 2], /got an array/],
    ['a boolean', true, /got a boolean/],
    ['a symbol', Symbol('k'), /got a symbol/],
    ['a function', () => 1, /got a function/],
    ['a Uint16Array', new Uint16Array([1]), /got a Uint16Array/],
    ['a Uint8ClampedArray', new Uint8ClampedArray([1]), /got a Uint8ClampedArray/],
    ['a DataView', new DataView(new ArrayBuffer(1)), /got a DataView/],
    ['an ArrayBuffer', new ArrayBuffer(1), /got an object/],
  ]
  const ring = ShardRing.build([{ id: 'a' }, { id: 'b' }])

  for (const [name, key, message] of cases) {
    it(`rejects ${name} with InvalidKeyError`, () => {
      for (const attempt of [() => hashShardKey(key as never), () => ring.shardFor(key as never), () => ring.slotFor(key as never)]) {
        let error: unknown
        try {
          attempt()
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(InvalidKeyError)
        expect((error as InvalidKeyError).code).toBe('INVALID_KEY')
        expect((error as Error).message).toMatch(message)
      }
    })
  }
})
