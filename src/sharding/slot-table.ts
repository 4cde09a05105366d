import { scoreTable, slotHash, weightedScore } from './rendezvous-score.js'
import type { Shard } from './shard-spec.js'
import { SLOT_COUNT } from './slot-space.js'
import { unitNegLog } from './unit-neg-log.js'

// The owner of a slot is, by definition, the shard with the highest
// weightedScore(weight, slotHash(table, slot)), ties going to the shard that
// comes first in canonical order. Scoring every shard at every slot costs
// 2^20 × shards evaluations (≈ 300 ms at 64 shards here), so the build
// scores only "candidates": shard c is a candidate at a slot when the top
// bits[c] bits of its slot hash are all ones. Because the hash is
// table[lo] XOR table[1024 + hi], the candidate slots of a shard can be listed
// without touching the others (group lo by the top bits of table[lo], then
// each hi pairs with exactly one group), and about 8 to 16 shards are
// candidates per slot whatever the shard count. Where the best candidate
// provably beats every non-candidate the answer is exact; the few other slots
// score every shard. The table is filled one row of 1024 slots (one hi) at a
// time so the row's running maxima stay in the L1 cache.

const INT32_MIN = -0x80000000
const SIGN = 0x80000000 | 0
const CANDIDATES_PER_SLOT = 8
const MAX_CANDIDATE_BITS = 10
const ROW = 1024
const HASH_BUCKET_SHIFT = 20
const HASH_BUCKETS = 1 << (32 - HASH_BUCKET_SHIFT)

/**
 * Owner of every slot, as an index into `shards`, which must be in canonical
 * order (as {@link validateShards} returns them).
 */
export function buildSlotTable(shards: readonly Shard[]): Uint16Array {
  const tables = shards.map((shard) => scoreTable(shard.id))
  // Typed arrays, not plain ones: a plain array of weights is sometimes small
  // integers and sometimes doubles, and the optimized loop deoptimizes on the
  // switch, which made weighted builds three times slower.
  const weights = Float64Array.from(shards, (shard) => shard.weight)
  if (weights.every((w) => w === weights[0])) {
    const bits = candidateBits(shards.length / CANDIDATES_PER_SLOT)
    return buildEqualWeights(tables, new CandidateGroups(tables, new Int32Array(shards.length).fill(bits)))
  }
  const target = weights.reduce((sum, w) => sum + w, 0) / CANDIDATES_PER_SLOT
  // A shard with weight w is a candidate with probability 2^-bits ≈ w / target.
  const bits = Int32Array.from(weights, (w) => candidateBits(target / w))
  return buildWeighted(tables, weights, bits, new CandidateGroups(tables, bits))
}

// With equal weights the score is a strictly increasing function of the hash
// (unitNegLog is strictly decreasing and the weight is shared), so comparing
// hashes picks the same winner without computing a single logarithm. Hashes
// are compared as signed integers after flipping the sign bit.
function buildEqualWeights(tables: readonly Int32Array[], groups: CandidateGroups): Uint16Array {
  const n = tables.length
  const owner = new Uint16Array(SLOT_COUNT)
  const rowBest = new Int32Array(ROW)
  const { lows, entries } = groups
  for (let hi = 0; hi < ROW; hi++) {
    const base = hi * ROW
    rowBest.fill(INT32_MIN)
    for (let c = 0; c < n; c++) {
      const high = tables[c]![ROW + hi]!
      const flippedHigh = high ^ SIGN
      const end = groups.end(c, high)
      for (let j = groups.start(c, high); j < end; j++) {
        const lo = lows[j]!
        const flipped = entries[j]! ^ flippedHigh
        // Strictly greater: on equal hashes the earlier shard keeps the slot.
        if (flipped > rowBest[lo]!) {
          rowBest[lo] = flipped
          owner[base + lo] = c
        }
      }
    }
    // With bits > 0 a candidate's hash is at least 2^31, so INT32_MIN marks a
    // slot no shard was a candidate for; with bits = 0 rescanning is harmless.
    for (let lo = 0; lo < ROW; lo++) {
      if (rowBest[lo] === INT32_MIN) owner[base + lo] = equalWeightWinner(tables, base + lo)
    }
  }
  return owner
}

function buildWeighted(
  tables: readonly Int32Array[],
  weights: Float64Array,
  bits: Int32Array,
  groups: CandidateGroups,
): Uint16Array {
  const n = tables.length
  // Highest score any non-candidate can reach: its hash is at most
  // 2^32 - 2^(32 - bits) - 1 and the score grows with the hash.
  let ceilingOfOthers = -Infinity
  for (let c = 0; c < n; c++) {
    if (bits[c] === 0) continue
    const lastNonCandidate = ((-1 << (32 - bits[c]!)) >>> 0) - 1
    ceilingOfOthers = Math.max(ceilingOfOthers, weightedScore(weights[c]!, lastNonCandidate))
  }
  // An upper bound on a score that costs a multiplication instead of a
  // logarithm, to skip candidates that cannot win: within each 2^20-wide
  // hash bucket -ln(u) is smallest at the bucket's top, and weightAbove
  // (weight × (1 + 2^-40)) outweighs the few roundings of the product, so
  // weightAbove × inverseMinLog ≥ weight / unitNegLog(hash) always holds.
  const inverseMinLog = new Float64Array(HASH_BUCKETS)
  for (let b = 0; b < HASH_BUCKETS; b++) inverseMinLog[b] = 1 / unitNegLog((b + 1) * (1 << HASH_BUCKET_SHIFT) - 1)
  const weightAbove = weights.map((w) => w * (1 + 2 ** -40))

  const owner = new Uint16Array(SLOT_COUNT)
  const rowBest = new Float64Array(ROW)
  const { lows, entries } = groups
  for (let hi = 0; hi < ROW; hi++) {
    const base = hi * ROW
    rowBest.fill(-Infinity)
    for (let c = 0; c < n; c++) {
      const weight = weights[c]!
      const above = weightAbove[c]!
      const high = tables[c]![ROW + hi]!
      const end = groups.end(c, high)
      for (let j = groups.start(c, high); j < end; j++) {
        const lo = lows[j]!
        // Kept as int32 until needed: a uint32 above 2^31 is a heap double.
        const hash = entries[j]! ^ high
        if (above * inverseMinLog[hash >>> HASH_BUCKET_SHIFT]! <= rowBest[lo]!) continue
        const score = weight / unitNegLog(hash >>> 0)
        // Strictly greater: on equal scores the earlier shard keeps the slot.
        if (score > rowBest[lo]!) {
          rowBest[lo] = score
          owner[base + lo] = c
        }
      }
    }
    for (let lo = 0; lo < ROW; lo++) {
      if (!(rowBest[lo]! > ceilingOfOthers)) owner[base + lo] = weightedWinner(tables, weights, base + lo)
    }
  }
  return owner
}

function equalWeightWinner(tables: readonly Int32Array[], slot: number): number {
  let top = INT32_MIN
  let winner = 0
  for (let c = 0; c < tables.length; c++) {
    const flipped = (slotHash(tables[c]!, slot) ^ SIGN) | 0
    if (flipped > top) {
      top = flipped
      winner = c
    }
  }
  return winner
}

function weightedWinner(tables: readonly Int32Array[], weights: Float64Array, slot: number): number {
  let top = -Infinity
  let winner = 0
  for (let c = 0; c < tables.length; c++) {
    const score = weightedScore(weights[c]!, slotHash(tables[c]!, slot))
    if (score > top) {
      top = score
      winner = c
    }
  }
  return winner
}

/** floor(log2(ratio)) clamped to [0, MAX_CANDIDATE_BITS]. */
function candidateBits(ratio: number): number {
  let bits = 0
  while (bits < MAX_CANDIDATE_BITS && 2 << bits <= ratio) bits++
  return bits
}

/**
 * For every shard, its 1024 low-half indices grouped by the top `bits` bits
 * of their table entry. Given the high-half entry `high` of a row, the shard's
 * candidate slots in that row are exactly the lows in the group whose top bits
 * are the complement of high's. `entries[j]` repeats `table[lows[j]]` so the
 * build reads both arrays sequentially instead of jumping around the tables,
 * which matters once hundreds of shards' tables no longer fit in cache.
 */
class CandidateGroups {
  readonly lows: Uint16Array
  readonly entries: Int32Array
  readonly #starts: Int32Array
  readonly #startsAt: Int32Array
  readonly #shift: Int32Array
  readonly #mask: Int32Array

  constructor(tables: readonly Int32Array[], bits: Int32Array) {
    const n = tables.length
    this.lows = new Uint16Array(n * ROW)
    this.entries = new Int32Array(n * ROW)
    this.#startsAt = new Int32Array(n)
    this.#shift = new Int32Array(n)
    this.#mask = new Int32Array(n)
    let size = 0
    for (let c = 0; c < n; c++) {
      this.#startsAt[c] = size
      size += (1 << bits[c]!) + 1
    }
    this.#starts = new Int32Array(size)
    for (let c = 0; c < n; c++) this.#fill(c, tables[c]!, bits[c]!)
  }

  start(shard: number, high: number): number {
    return this.#starts[this.#startsAt[shard]! + this.#partner(shard, high)]!
  }

  end(shard: number, high: number): number {
    return this.#starts[this.#startsAt[shard]! + this.#partner(shard, high) + 1]!
  }

  #fill(shard: number, table: Int32Array, bits: number): void {
    // bits = 0 makes one group holding every low: the shard is a candidate everywhere.
    this.#shift[shard] = 32 - bits
    this.#mask[shard] = (1 << bits) - 1
    const groupCount = 1 << bits
    const at = this.#startsAt[shard]!
    const starts = this.#starts
    for (let lo = 0; lo < ROW; lo++) starts[at + this.#group(shard, table[lo]!) + 1]!++
    for (let g = 0; g < groupCount; g++) starts[at + g + 1]! += starts[at + g]!
    const next = starts.slice(at, at + groupCount)
    for (let lo = 0; lo < ROW; lo++) {
      const j = shard * ROW + next[this.#group(shard, table[lo]!)]!++
      this.lows[j] = lo
      this.entries[j] = table[lo]!
    }
    // Stored relative to the shard's own block of lows.
    for (let g = 0; g <= groupCount; g++) starts[at + g]! += shard * ROW
  }

  #partner(shard: number, high: number): number {
    return this.#group(shard, high) ^ this.#mask[shard]!
  }

  #group(shard: number, entry: number): number {
    const shift = this.#shift[shard]!
    // `>>> 32` would be a no-op shift, not zero, hence the explicit case.
    return shift === 32 ? 0 : entry >>> shift
  }
}
