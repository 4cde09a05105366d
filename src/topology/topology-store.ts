import type { Knex } from 'knex'
import { ConfigError, ShardUnavailableError } from '../errors.js'
import type { Participant } from '../protocol/participant.js'
import { decodeMove, decodeShards, encodeMove, encodeShards, type Topology, type TopologyShard } from './topology.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'
import { asUnavailable } from '../shard-unavailable.js'

interface TopologyRow {
  epoch: number | string
  shards: string
  log_shard: string
  state: 'pending' | 'active'
  claimed_by: string
  created_at: number | string
  reshard?: string | null
}

/**
 * A claimed but not yet published change: epoch N+1 while N is active.
 *
 * ```ts
 * const pending = await store.pending(active.epoch) // { epoch: 8, shards, claimedBy, createdAt } | undefined
 * ```
 */
export interface PendingTopology extends Topology {
  readonly claimedBy: string
  readonly createdAt: number
}

/** What the store needs of the shard that holds it. */
export type StoreShard = Pick<Participant, 'shardId' | 'knex' | 'onOwnConnection' | 'isConnectionError' | 'boundedKnex'>

/**
 * The topology table on the log shard, through the log shard's own knex (autocommit):
 * the queries are plain enough for every dialect. Every read is its own statement,
 * so a process never routes by an uncommitted change.
 *
 * Each statement runs on a pooled connection of its own within `statementMs`: a
 * transaction waits for the load of the stored topology, and a path that drops every
 * byte would otherwise hold that load, and every transaction of the process behind
 * it, until TCP gives up.
 */
export class TopologyStore {
  readonly #shard: StoreShard
  readonly #table: string
  readonly #statementMs: number

  constructor(shard: StoreShard, table: string, statementMs: number) {
    this.#shard = shard
    this.#table = table
    this.#statementMs = statementMs
  }

  /** The topology processes route by, or undefined on a cluster that never stored one. */
  async active(): Promise<Topology | undefined> {
    const row = (await this.#read('reading the stored topology', (q) => q.where({ state: 'active' }).orderBy('epoch', 'desc').first())) as TopologyRow | undefined
    return row === undefined ? undefined : toTopology(row)
  }

  /** The change claimed after `activeEpoch`, if one was claimed and not published. */
  async pending(activeEpoch: number): Promise<PendingTopology | undefined> {
    const row = (await this.#read('reading a pending topology change', (q) => q.where({ epoch: activeEpoch + 1, state: 'pending' }).first())) as TopologyRow | undefined
    return row === undefined ? undefined : { ...toTopology(row), claimedBy: row.claimed_by, createdAt: Number(row.created_at) }
  }

  /**
   * Inserts the row of `epoch` unless one exists (the primary key decides between
   * racing writers), then says whether the row that stands is this claim.
   */
  async claim(topology: Topology, state: 'pending' | 'active', claimedBy: string): Promise<boolean> {
    await this.#read('claiming a topology epoch', (q) =>
      q
        .insert({
          epoch: topology.epoch,
          shards: encodeShards(topology.shards),
          log_shard: topology.logShardId,
          state,
          claimed_by: claimedBy,
          created_at: Date.now(),
        })
        .onConflict('epoch')
        .ignore(),
    )
    const row = (await this.#read('reading a claimed topology epoch', (q) => q.where({ epoch: topology.epoch }).first())) as TopologyRow | undefined
    return row?.claimed_by === claimedBy
  }

  /** Takes over a pending change left by a change that stopped (or lost its way): same epoch, new shards. */
  async takeOver(epoch: number, shards: readonly TopologyShard[], claimedBy: string): Promise<boolean> {
    const changed = await this.#read('taking over a pending topology change', (q) =>
      q.where({ epoch, state: 'pending' }).update({ shards: encodeShards(shards), claimed_by: claimedBy, created_at: Date.now() }),
    )
    return Number(changed) === 1
  }

  /** Makes a claimed change the one processes route by; false when another change took the claim over. */
  async publish(epoch: number, claimedBy: string): Promise<boolean> {
    const changed = await this.#read('publishing a topology epoch', (q) => q.where({ epoch, state: 'pending', claimed_by: claimedBy }).update({ state: 'active' }))
    return Number(changed) === 1
  }

  async #read(what: string, query: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<unknown> {
    const shard = this.#shard
    try {
      return await shard.onOwnConnection(what, this.#statementMs, (conn) => query(shard.knex(this.#table).connection(conn)))
    } catch (error) {
      // A lost connection is the typed, retryable error a branch would give.
      const typed = asUnavailable(shard, what, error)
      if (typed instanceof ShardUnavailableError) throw typed
      // Looked at only when the shard answered with an error: a cluster whose log shard was never migrated to topologies.
      if (!(await this.#tableExists())) {
        throw new ConfigError('log', `the topology table ${this.#table} does not exist on the log shard: run cluster.migrate() (or \`shardtx migrate\`)`)
      }
      throw error
    }
  }

  /** True unless the shard says the table is missing (a failure to ask counts as present: the first error stands). */
  #tableExists(): Promise<boolean> {
    return withBoundedKnex(this.#shard, this.#statementMs, (knex) => knex.schema.hasTable(this.#table).catch(() => true))
  }
}

function toTopology(row: TopologyRow): Topology {
  const move = decodeMove(row.reshard)
  const topology = { epoch: Number(row.epoch), shards: decodeShards(row.shards), logShardId: row.log_shard }
  return move === undefined ? topology : { ...topology, move }
}

/**
 * The row of an epoch a resharding job publishes, inserted in the job's own
 * transaction (on its branch of the log shard): active at once, since the same
 * transaction raises the fences it needs. The primary key makes it a compare-and-set.
 */
export function topologyRowOf(topology: Topology, claimedBy: string): Record<string, unknown> {
  return {
    epoch: topology.epoch,
    shards: encodeShards(topology.shards),
    log_shard: topology.logShardId,
    state: 'active',
    claimed_by: claimedBy,
    created_at: Date.now(),
    reshard: encodeMove(topology.move),
  }
}
