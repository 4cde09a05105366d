import type { Cluster } from '../../src/index.js'

/** Long enough that only the detector can end a cycle within a test's time. */
export const CYCLE_LOCK_TIMEOUT_MS = 50_000

/** Resolves once `count` callers have called the returned function, for each of them. */
export function rendezvous(count: number): () => Promise<void> {
  let arrived = 0
  let all!: () => void
  const together = new Promise<void>((resolve) => (all = resolve))
  return async () => {
    if (++arrived === count) all()
    await together
  }
}

/**
 * Two transactions, each holding the row of `accounts` id 1 on one shard and then
 * asking for it on the other: a cycle that neither server can see. Resolves with
 * each one's error, or undefined for the one that committed.
 */
export function lockCycle(clusters: [Cluster, Cluster], accounts: string, [x, y]: [string, string]): Promise<[unknown, unknown]> {
  const bothLocked = rendezvous(2)
  const transfer = (cluster: Cluster, first: string, second: string, delta: number) =>
    cluster
      .transaction(
        async (tx) => {
          await tx.forShard(first)(accounts).where({ id: 1 }).increment('balance', delta)
          await bothLocked()
          await tx.forShard(second)(accounts).where({ id: 1 }).increment('balance', delta)
        },
        { lockTimeout: CYCLE_LOCK_TIMEOUT_MS },
      )
      .then(() => undefined, (error: unknown) => error)
  return Promise.all([transfer(clusters[0], x, y, 1), transfer(clusters[1], y, x, -1)])
}
