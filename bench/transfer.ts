import type { Cluster } from '../src/index.js'

/** Accounts per shard in every benchmark table. */
export const ACCOUNTS = 10_000

export function randomAccount(): number {
  return 1 + Math.floor(Math.random() * ACCOUNTS)
}

/** W1 / W2: debit a random account on `from`, credit one on `to`, in one shardtx transaction. */
export function shardtxTransfer(cluster: Cluster, from: string, to: string): Promise<void> {
  const a = randomAccount()
  const b = randomAccount()
  return cluster.transaction(async (tx) => {
    await tx.forShard(from)('accounts').where({ id: a }).decrement('balance', 1)
    await tx.forShard(to)('accounts').where({ id: b }).increment('balance', 1)
  })
}
