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
  forShard(shardId: string): Knex
  transaction<T>(work: (tx: BranchesByShard) => Promise<T>, options?: { retry?: { attempts: number } }): Promise<T>
  currentTransaction(): BranchesByShard | undefined
}

/**
 * How a builder reaches the shards: inside a transaction, its branches; outside,
 * the shards' pools for reads and a transaction of its own for writes.
 */
export interface ShardAccess {
  /** The knex to read `shardId` with. */
  reader(shardId: string): Knex
  /**
   * The bound on one read, in ms, when nothing else bounds it (outside a transaction,
   * whose own timeout does); undefined otherwise.
   */
  readTimeoutMs?(): number | undefined
  /**
   * Runs one write statement on each of `shardIds` (in parallel, all-or-nothing)
   * and resolves with the results in the same order.
   */
  writeEach<T>(shardIds: readonly string[], statement: (knex: Knex, shardId: string) => PromiseLike<T>): Promise<T[]>
  /**
   * Outside a transaction: runs `work` in a transaction of its own, so that its reads
   * are fenced like any branch (undefined inside one, whose branches already are).
   */
  fenced?<T>(work: (access: ShardAccess) => Promise<T>): Promise<T>
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
export function clusterAccess(cluster: ShardsOfCluster, readTimeoutMs?: number): ShardAccess {
  return {
    reader(shardId) {
      return cluster.currentTransaction()?.forShard(shardId) ?? cluster.forShard(shardId)
    },
    readTimeoutMs() {
      return cluster.currentTransaction() === undefined ? readTimeoutMs : undefined
    },
    async writeEach(shardIds, statement) {
      const current = cluster.currentTransaction()
      if (current !== undefined) return transactionAccess(current).writeEach(shardIds, statement)
      // A failure rolls the whole transaction back, so no savepoints are needed here.
      return cluster.transaction((tx) => Promise.all(shardIds.map((id) => statement(tx.forShard(id), id))), IMPLICIT)
    },
    fenced(work) {
      const current = cluster.currentTransaction()
      if (current !== undefined) return work(transactionAccess(current))
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
