import { unitNegLog } from './unit-neg-log.js'
import { xxh32BytesInt32 } from './xxh32.js'

/**
 * Entries in a shard's score table: 1024 for the low 10 bits of a slot and
 * 1024 for the high 10 bits.
 */
export const SCORE_TABLE_SIZE = 2048

const textEncoder = new TextEncoder()

/**
 * The random table that gives shard `id` its score at every slot:
 * entry `k` is XXH32(UTF-8(id) ‖ k as 4 little-endian bytes, seed 0),
 * stored as a signed 32-bit integer (read it with `>>> 0`).
 */
export function scoreTable(id: string): Int32Array {
  const idBytes = textEncoder.encode(id)
  const input = new Uint8Array(idBytes.length + 4)
  input.set(idBytes)
  const view = new DataView(input.buffer)
  const table = new Int32Array(SCORE_TABLE_SIZE)
  for (let k = 0; k < SCORE_TABLE_SIZE; k++) {
    view.setUint32(idBytes.length, k, true)
    table[k] = xxh32BytesInt32(input, 0, 0, input.length)
  }
  return table
}

/**
 * A shard's 32-bit rendezvous hash for `slot`: simple tabulation hashing,
 * `table[slot & 1023] XOR table[1024 + (slot >>> 10)]`. Tabulation (rather
 * than hashing every slot/shard pair) is what lets the table build skip the
 * pairs that cannot win (see `slot-table.ts`); for one slot the hashes of
 * different shards are independent, and for one shard the hashes of any two
 * slots are independent, so per-shard slot counts have the same variance as with a
 * fully random hash.
 */
export function slotHash(table: Int32Array, slot: number): number {
  return (table[slot & 1023]! ^ table[1024 + (slot >>> 10)]!) >>> 0
}

/**
 * Weighted rendezvous score: `weight / -ln(u)` with `u = (hash + 0.5) / 2^32`,
 * the classic weighted highest-random-weight score (a shard wins a slot with
 * probability weight / total weight), with `-ln` computed reproducibly by
 * {@link unitNegLog}. The highest score wins the slot.
 */
export function weightedScore(weight: number, hash: number): number {
  return weight / unitNegLog(hash)
}
