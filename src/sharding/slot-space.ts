/**
 * Bits of a key's 32-bit hash that pick its slot. Part of the frozen routing
 * function: changing it would move nearly every key.
 */
export const SLOT_BITS = 20

/**
 * Number of slots (2^20). Fixed whatever the number of shards, so a slot means
 * the same range of keys in every ring and rings can be diffed slot by slot.
 * 2^20 is the smallest power of two whose random per-slot ownership keeps the
 * fullest of 16 equal shards within about 1 % of the mean (σ ≈ 0.37 %).
 */
export const SLOT_COUNT = 1 << SLOT_BITS

/**
 * The slot of a key hash: its top {@link SLOT_BITS} bits, so slot `s` holds the
 * hashes `[s * 4096, (s + 1) * 4096)`. Takes the hash signed or unsigned.
 */
export function slotOfHash(hash: number): number {
  return hash >>> (32 - SLOT_BITS)
}
