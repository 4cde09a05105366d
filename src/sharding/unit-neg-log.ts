// Why not Math.log: ECMAScript leaves its precision to the implementation, so
// two V8 versions or platforms may return different last bits, and a weighted
// rendezvous winner decided by that last bit would route a key differently
// after an upgrade. Everything below uses only +, -, * and / on doubles, which
// IEEE 754 rounds exactly and identically everywhere (JavaScript never fuses
// a*b+c), plus integer ops; the result is the same bit pattern on every engine.

/** ln 2 rounded to the nearest double (bits 0x3FE62E42FEFA39EF). */
const LN2 = 0.6931471805599453
/** √2 rounded to the nearest double (bits 0x3FF6A09E667F3BCD). */
const SQRT2 = 1.4142135623730951

// 2^-e for e = 0..32, built by exact halving rather than Math.pow, whose
// result the language does not pin down either.
const POW2_NEG = new Float64Array(33)
POW2_NEG[0] = 1
for (let e = 1; e < 33; e++) POW2_NEG[e] = POW2_NEG[e - 1]! * 0.5

// 1/(2k+1) for k = 1..8, each the correctly rounded quotient.
const C1 = 1 / 3
const C2 = 1 / 5
const C3 = 1 / 7
const C4 = 1 / 9
const C5 = 1 / 11
const C6 = 1 / 13
const C7 = 1 / 15
const C8 = 1 / 17

/**
 * `-ln(u)` for `u = (h + 0.5) / 2^32`, the midpoint of the 32-bit hash bucket
 * `h`, computed bit-for-bit reproducibly. The result lies in
 * [1.16e-10, 22.88] and is within 1e-14 of the true value, far below the
 * 2.3e-10 gap between neighbouring `h`, so it is strictly decreasing in `h`.
 */
export function unitNegLog(h: number): number {
  // u = (2h + 1) / 2^33; split 2h + 1 = m * 2^e with m in [√½, √2], so that
  // -ln u = (33 - e) ln 2 - ln m and the series below converges fast.
  const x = 2 * h + 1
  let e = h === 0 ? 0 : 32 - Math.clz32(h)
  let m = x * POW2_NEG[e]!
  if (m > SQRT2) {
    m *= 0.5
    e += 1
  }
  // ln m = 2 atanh(t) = 2t (1 + t²/3 + t⁴/5 + …), t = (m-1)/(m+1), |t| ≤ 0.172:
  // the first omitted term is below 3e-16.
  const t = (m - 1) / (m + 1)
  const s = t * t
  let q = C8
  q = C7 + s * q
  q = C6 + s * q
  q = C5 + s * q
  q = C4 + s * q
  q = C3 + s * q
  q = C2 + s * q
  q = C1 + s * q
  q = 1 + s * q
  return (33 - e) * LN2 - 2 * t * q
}
