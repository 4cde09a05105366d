import type { Knex } from 'knex'
import { writeAtomically } from './atomic-write.js'

/**
 * What a builder needs of a transaction: its branch knex per shard. Declared
 * here, not imported, so that sharded tables do not depend on the transaction
 * or the cluster that use them (no import cycle).
 */
export interface BranchesByShard {
  forShard(shardId: string): Knex
}

/** What a builder needs of a cluster outside a transaction. */
export interface ShardsOfCluster {
  transaction<T>(work: (tx: BranchesByShard) => Promise<T>, options?: { retry?: { attempts: number } }): Promise<T>
  currentTransaction(): BranchesByShard | undefined
}

/**
 * How a builder reaches the shards inside a transaction: through its branches.
 */
export interface ShardAccess {
  /** The knex to read `shardId` with. */
  reader(shardId: string): Knex
  /**
   * Runs one write statement on each of `shardIds` (in parallel, all-or-nothing)
   * and resolves with the results in the same order.
   */
  writeEach<T>(shardIds: readonly string[], statement: (knex: Knex, shardId: string) => PromiseLike<T>): Promise<T[]>
}

/**
 * How a builder reaches the shards outside a transaction: every statement is
 * planned and run inside a transaction (the current one, or one of its own).
 */
export interface FencedAccess {
  fenced<T>(work: (access: ShardAccess) => Promise<T>): Promise<T>
}

/**
 * Access through a running transaction: every statement runs on its branches,
 * and a statement spanning shards is made atomic by savepoints, so that an error
 * the caller catches never leaves it half applied.
 */
export function transactionAccess(tx: BranchesByShard): ShardAccess {
  return {
    reader: (shardId) => tx.forShard(shardId),
    async writeEach(shardIds, statement) {
      if (shardIds.length === 1) return [await statement(tx.forShard(shardIds[0]!), shardIds[0]!)]
      return writeAtomically(shardIds.map((id) => ({ shardId: id, knex: tx.forShard(id) })), statement)
    },
  }
}

/**
 * Access outside a transaction. Inside a `cluster.transaction` callback (the
 * cluster's current transaction) it is that transaction's access. Otherwise every
 * read and write runs in a `cluster.transaction` of its own (one shard: one-phase;
 * several: two-phase), so that its branches carry the topology fence: a process
 * that routes by an old epoch is refused instead of writing to, or reading from,
 * a shard that no longer owns the key, and a read spanning shards during a
 * resharding job sees every moved row exactly once (docs/resharding.md).
 */
export function clusterAccess(cluster: ShardsOfCluster): FencedAccess {
  return {
    fenced(work) {
      const current = cluster.currentTransaction()
      if (current !== undefined) return work(transactionAccess(current))
      // A failure rolls the whole transaction back, so no savepoints are needed for its writes.
      return cluster.transaction((tx) => work(transactionAccess(tx)), IMPLICIT)
    },
  }
}

/**
 * A statement outside a transaction is made again, as the caller would, when its
 * transaction failed retryably before anything committed: a shard refused its
 * topology epoch (the process reloads and routes it anew), or a fence held by a
 * resharding batch or a topology change made a branch fail fast, or a lock conflict.
 */
const IMPLICIT = { retry: { attempts: 8 } }
