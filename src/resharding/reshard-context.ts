import type { Knex } from 'knex'
import type { ResolvedClusterConfig } from '../config/cluster-options.js'
import type { Logger } from '../logger.js'
import type { Participant } from '../protocol/participant.js'
import type { EpochFence } from '../topology/epoch-fence.js'
import type { TopologyState } from '../topology/topology-state.js'
import type { TopologyStore } from '../topology/topology-store.js'
import type { Transaction } from '../transaction/transaction.js'
import type { TransactionOptions } from '../transaction/transaction-options.js'
import type { ReshardStore } from './reshard-store.js'
import type { TableShape } from './table-shape.js'
import { asUnavailable } from '../shard-unavailable.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

/** What a resharding job needs of its cluster. */
export interface ReshardContext {
  readonly config: ResolvedClusterConfig
  readonly participants: ReadonlyMap<string, Participant>
  readonly topologyStore: TopologyStore
  readonly topologyTable: string
  readonly fences: ReadonlyMap<string, EpochFence>
  readonly state: TopologyState
  readonly store: ReshardStore
  readonly logger: Logger
  /** A table's columns and indexes on a shard, in its dialect (adapters/table-shapes.ts). */
  shapeOf(participant: Participant, knex: Knex, table: string): Promise<TableShape | undefined>
  /** A shardtx transaction of the cluster (the mover's batches are ordinary two-phase transactions). */
  transaction<T>(work: (tx: Transaction) => Promise<T>, options: TransactionOptions): Promise<T>
}

/**
 * Runs `read` against one shard outside any transaction; a connection that failed
 * (reset, refused, the server restarting, no pooled connection in time) becomes the
 * typed, retryable ShardUnavailableError naming that shard, as a branch's would.
 */
export async function onShard<T>(ctx: ReshardContext, shardId: string, what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    throw asUnavailable(ctx.participants.get(shardId)!, what, error)
  }
}

/**
 * {@link onShard} on the log shard, where the jobs are stored: on a knex of its own
 * whose every statement is bounded by `timeouts.recovery` (a statement that misses
 * it is a ShardUnresponsiveError and its connection is closed), as the other
 * operator calls are bounded.
 */
export async function onLog<T>(ctx: ReshardContext, read: (log: Knex) => Promise<T>): Promise<T> {
  return withBoundedKnex(ctx.participants.get(ctx.state.logShardId)!, ctx.config.timeouts.recoveryMs, (knex) =>
    onShard(ctx, ctx.state.logShardId, 'could not read or write the resharding job', () => read(knex)),
  )
}
