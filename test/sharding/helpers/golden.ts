import { xxh32Bytes } from '../../../src/sharding/xxh32.js'
import type { ShardKey, ShardRing } from '../../../src/sharding/index.js'

/**
 * A key as stored in the golden-vector fixture (JSON has no bigint or bytes).
 *
 * ```ts
 * const key: StoredKey = { bigint: '18446744073709551616' }
 * ```
 */
export type StoredKey = { string: string } | { number: number } | { bigint: string } | { bytes: string }

/**
 * The key a {@link StoredKey} stands for.
 *
 * ```ts
 * toKey({ bytes: '6869' }) // Uint8Array [0x68, 0x69]
 * ```
 */
export function toKey(stored: StoredKey): ShardKey {
  if ('string' in stored) return stored.string
  if ('number' in stored) return stored.number
  if ('bigint' in stored) return BigInt(stored.bigint)
  return Uint8Array.from(Buffer.from(stored.bytes, 'hex'))
}

/**
 * XXH32 of the whole slot table, slot by slot as the owner's canonical index
 * (2 bytes little-endian): one number that pins down all 2^20 slots.
 *
 * ```ts
 * tableDigest(ShardRing.build(shards)) // e.g. '9c0e4a1f'
 * ```
 */
export function tableDigest(ring: ShardRing): string {
  const index = new Map(ring.shards.map((s, i) => [s.id, i]))
  const bytes = new Uint8Array(ring.slotCount * 2)
  for (let slot = 0; slot < ring.slotCount; slot++) {
    const owner = index.get(ring.slotOwner(slot))!
    bytes[slot * 2] = owner & 0xff
    bytes[slot * 2 + 1] = owner >>> 8
  }
  return xxh32Bytes(bytes).toString(16).padStart(8, '0')
}
