/**
 * Shard lists shared by the tests and the golden vectors.
 *
 * ```ts
 * ShardRing.build(equalShards(16)) // shard-0 … shard-15, weight 1
 * ```
 */
export function equalShards(count: number, prefix = 'shard-'): { id: string; weight: number }[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, weight: 1 }))
}

/**
 * `count` shards with weights cycling 1, 2, 3, 4.
 *
 * ```ts
 * weightedShards(16)[2] // { id: 'shard-2', weight: 3 }
 * ```
 */
export function weightedShards(count: number, prefix = 'shard-'): { id: string; weight: number }[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, weight: 1 + (i % 4) }))
}
