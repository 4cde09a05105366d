/** knex's own default pool size, used when a shard sets no `pool.max`. */
const KNEX_DEFAULT_POOL_MAX = 10

/**
 * Connections of each pool kept free of transactions, for the work that runs
 * beside them: a recovery round, the forgetter's batch delete, a detector query,
 * its probe of each shard. None of those holds one connection while waiting for
 * another, so they can only delay a transaction, never deadlock with it; keeping
 * a couple free means they do not even delay it.
 */
export function reservedConnections(poolMax: number): number {
  return poolMax >= 4 ? 2 : poolMax >= 2 ? 1 : 0
}

/**
 * How many transactions may run at once in one process: each holds at most one
 * connection per shard, so with this many admitted no transaction ever waits for
 * a pooled connection that another transaction holds, whatever shards each
 * touches and in whatever order. That is what makes a pool deadlock impossible.
 */
export function admissionCapacity(pools: readonly { max?: number | undefined }[]): number {
  let capacity = Infinity
  for (const pool of pools) {
    const max = pool.max ?? KNEX_DEFAULT_POOL_MAX
    capacity = Math.min(capacity, max - reservedConnections(max))
  }
  return Math.max(1, capacity === Infinity ? 1 : capacity)
}
