import { unitNegLog } from '../../../src/sharding/unit-neg-log.js'
import { xxh32Bytes } from '../../../src/sharding/xxh32.js'

/**
 * The routing function written straight from docs/sharding.md, slot by slot
 * and shard by shard, with none of the build's shortcuts: the tests compare
 * the fast table against it.
 *
 * ```ts
 * const owner = referenceOwners([{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }])
 * owner(12345) // 'a' or 'b'
 * ```
 */
export function referenceOwners(shards: readonly { id: string; weight?: number }[]): (slot: number) => string {
  const entries = shards
    .map((shard) => {
      const id = Buffer.from(shard.id, 'utf8')
      const input = Buffer.alloc(id.length + 4)
      id.copy(input)
      const table = Array.from({ length: 2048 }, (_, k) => {
        input.writeUInt32LE(k, id.length)
        return xxh32Bytes(input)
      })
      return { id: shard.id, bytes: id, weight: shard.weight ?? 1, table }
    })
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
  return (slot) => {
    let bestScore = -Infinity
    let owner = ''
    for (const { id, weight, table } of entries) {
      const hash = (table[slot % 1024]! ^ table[1024 + Math.floor(slot / 1024)]!) >>> 0
      const score = weight / unitNegLog(hash)
      if (score > bestScore) {
        bestScore = score
        owner = id
      }
    }
    return owner
  }
}
