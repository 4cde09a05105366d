/**
 * xxHash's own "sanity buffer" (from xxhsum's self-test): byte i is the top
 * byte of PRIME32 * PRIME64^i mod 2^64. Its published XXH32 values, and those
 * the reference C implementation gives for its prefixes, are the vectors the
 * tests check.
 *
 * ```ts
 * xxh32Bytes(sanityBuffer(222)) // 0x5bd11dbd
 * ```
 */
export function sanityBuffer(length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let gen = 2654435761n
  for (let i = 0; i < length; i++) {
    bytes[i] = Number(gen >> 56n)
    gen = (gen * 11400714785074694797n) & 0xffffffffffffffffn
  }
  return bytes
}
