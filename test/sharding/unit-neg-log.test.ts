import { describe, expect, it } from 'vitest'
import { unitNegLog } from '../../src/sharding/unit-neg-log.js'
import { prng } from './helpers/prng.js'

const exact = (h: number) => -Math.log((h + 0.5) / 2 ** 32)

// Bit patterns frozen when the function was written: a change here changes
// routing for weighted rings.
const FROZEN: [number, string][] = [
  [0, '4036dfb516f20bbe'],
  [1, '4035c6766f473b8e'],
  [0x7fffffff, '3fe62e42ff1a39ef'],
  [0x80000000, '3fe62e42feda39ef'],
  [0xb504f333, '3fd62e42ff255041'],
  [0xfffffffe, '3df8000000120000'],
  [0xffffffff, '3de0000000040000'],
  [123456789, '400c64fb98c406fd'],
  [3000000000, '3fd6f71908acb179'],
]

function bits(x: number): string {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  return view.getBigUint64(0).toString(16).padStart(16, '0')
}

describe('unitNegLog', () => {
  it('is -ln((h + 0.5) / 2^32) to within 1e-14', () => {
    const random = prng(2)
    let worst = 0
    for (let i = 0; i < 200_000; i++) {
      const h = random.uint32()
      worst = Math.max(worst, Math.abs(unitNegLog(h) - exact(h)))
    }
    expect(worst).toBeLessThan(1e-14)
    for (const h of [0, 1, 2, 3, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff]) {
      expect(Math.abs(unitNegLog(h) - exact(h)) / exact(h)).toBeLessThan(1e-13)
    }
  })

  it('is strictly decreasing, also across every range-reduction boundary', () => {
    const random = prng(3)
    const probes: number[] = []
    for (let e = 0; e < 32; e++) {
      // Powers of two change the exponent; √2 · 2^e flips m back into [√½, √2].
      for (const base of [2 ** e, Math.floor(Math.SQRT2 * 2 ** e)]) {
        for (let d = -4; d <= 4; d++) probes.push(base + d)
      }
    }
    for (let i = 0; i < 100_000; i++) probes.push(random.uint32())
    const rising = probes.filter((h) => h >= 0 && h < 0xffffffff && !(unitNegLog(h + 1) < unitNegLog(h)))
    expect(rising).toEqual([])
  })

  it('returns the frozen bit patterns', () => {
    for (const [h, expected] of FROZEN) expect(bits(unitNegLog(h)), `h = ${h}`).toBe(expected)
  })
})
