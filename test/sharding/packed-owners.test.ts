import { describe, expect, it } from 'vitest'
import { ownerBits, packOwners, readOwner, writeOwner } from '../../src/sharding/packed-owners.js'
import { prng } from './helpers/prng.js'

describe('packed owner table', () => {
  it('uses just enough bits per slot', () => {
    const cases: [number, number][] = [[1, 0], [2, 1], [3, 2], [4, 2], [5, 3], [16, 4], [17, 5], [64, 6], [65, 7], [256, 8], [257, 9], [4096, 12]]
    for (const [shards, bits] of cases) expect(ownerBits(shards), `${shards} shards`).toBe(bits)
  })

  it('reads back every owner it packed, for every width up to 4096 shards', () => {
    const random = prng(13)
    for (let bits = 0; bits <= 12; bits++) {
      const owners = Uint16Array.from({ length: 5003 }, () => random.int(1 << bits))
      const packed = packOwners(owners, bits)
      const wrong = owners.filter((owner, slot) => readOwner(packed, bits, slot) !== owner)
      expect(wrong.length, `${bits} bits`).toBe(0)
    }
  })

  it('rewrites one owner in place and leaves its neighbours alone, for every width up to 4096 shards', () => {
    const random = prng(17)
    for (let bits = 1; bits <= 12; bits++) {
      const owners = Uint16Array.from({ length: 3001 }, () => random.int(1 << bits))
      const packed = packOwners(owners, bits)
      for (let n = 0; n < 2000; n++) {
        const slot = random.int(owners.length)
        owners[slot] = random.int(1 << bits)
        writeOwner(packed, bits, slot, owners[slot]!)
      }
      const wrong = owners.filter((owner, slot) => readOwner(packed, bits, slot) !== owner)
      expect(wrong.length, `${bits} bits`).toBe(0)
    }
  })
})
