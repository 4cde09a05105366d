import type { Knex } from 'knex'
import { ConfigError } from '../errors.js'
import { decodeShards, encodeShards, type TopologyShard } from '../topology/topology.js'
import type { ReshardBatch, ReshardPlan } from './reshard-plan.js'

/**
 * Where a job is: `running` moves batches forward; `cancelled` stopped at a batch
 * boundary (routing stays where it is, valid as any other epoch); `reversing` moves
 * the done batches back; `done` and `reversed` are final.
 */
export type ReshardState = 'running' | 'cancelled' | 'reversing' | 'done' | 'reversed'

/**
 * One job as stored on the log shard.
 *
 * ```ts
 * const job = await cluster.reshardStatus() // { id, state, done, total, rowsMoved, ... } | undefined
 * ```
 */
export interface ReshardJob {
  readonly id: string
  readonly state: ReshardState
  readonly fromEpoch: number
  readonly plan: ReshardPlan
  readonly done: number
  readonly total: number
  readonly rowsMoved: number
  readonly createdAt: number
  readonly updatedAt: number
}

interface JobRow {
  id: string
  state: ReshardState
  from_epoch: number | string
  from_shards: string
  to_shards: string
  plan: string
  done: number | string
  total: number | string
  rows_moved: number | string
  created_at: number | string
  updated_at: number | string
}

/**
 * The job table through a knex: the log shard's pool for reads, or a transaction's
 * branch on the log shard for the writes that must commit with a batch.
 */
export class ReshardStore {
  readonly #table: string

  constructor(table: string) {
    this.#table = table
  }

  async latest(knex: Knex): Promise<ReshardJob | undefined> {
    const row = (await this.#query(knex, (q) => q.orderBy('created_at', 'desc').orderBy('id', 'desc').first())) as JobRow | undefined
    return row === undefined ? undefined : toJob(row)
  }

  async get(knex: Knex, id: string): Promise<ReshardJob | undefined> {
    const row = (await this.#query(knex, (q) => q.where({ id }).first())) as JobRow | undefined
    return row === undefined ? undefined : toJob(row)
  }

  async insert(knex: Knex, job: ReshardJob): Promise<void> {
    await this.#query(knex, (q) =>
      q.insert({
        id: job.id,
        state: job.state,
        from_epoch: job.fromEpoch,
        from_shards: encodeShards(job.plan.from),
        to_shards: encodeShards(job.plan.to),
        plan: JSON.stringify(job.plan.batches.map((b) => [b.from, b.to, b.firstSlot, b.lastSlot, b.rows])),
        done: job.done,
        total: job.total,
        rows_moved: job.rowsMoved,
        created_at: job.createdAt,
        updated_at: job.updatedAt,
      }),
    )
  }

  /**
   * Compare-and-set of the job's progress: true when the row was at (`state`, `done`)
   * and now holds the new values. A second mover's set fails, so no lease is needed.
   */
  async advance(
    knex: Knex,
    id: string,
    expected: { state: ReshardState; done: number },
    next: { state: ReshardState; done: number; rowsMoved: number },
  ): Promise<boolean> {
    const changed = await this.#query(knex, (q) =>
      q
        .where({ id, state: expected.state, done: expected.done })
        .update({ state: next.state, done: next.done, rows_moved: knex.raw('rows_moved + ?', [next.rowsMoved]), updated_at: Date.now() }),
    )
    return Number(changed) === 1
  }

  /** Changes only the state (cancel, reverse, resume), when it is still one of `from`. */
  async setState(knex: Knex, id: string, from: readonly ReshardState[], to: ReshardState): Promise<boolean> {
    const changed = await this.#query(knex, (q) => q.where({ id }).whereIn('state', [...from]).update({ state: to, updated_at: Date.now() }))
    return Number(changed) === 1
  }

  async #query(knex: Knex, query: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<unknown> {
    try {
      return await query(knex(this.#table))
    } catch (error) {
      if (!(await knex.schema.hasTable(this.#table).catch(() => true))) {
        throw new ConfigError('log', `the resharding table ${this.#table} does not exist on the log shard: run cluster.migrate() (or \`shardtx migrate\`)`)
      }
      throw error
    }
  }
}

function toJob(row: JobRow): ReshardJob {
  const batches = (JSON.parse(row.plan) as [string, string, number, number, number][]).map(
    ([from, to, firstSlot, lastSlot, rows]): ReshardBatch => ({ from, to, firstSlot, lastSlot, rows }),
  )
  const from: TopologyShard[] = decodeShards(row.from_shards)
  const to: TopologyShard[] = decodeShards(row.to_shards)
  return {
    id: row.id,
    state: row.state,
    fromEpoch: Number(row.from_epoch),
    plan: { jobId: row.id, from, to, batches },
    done: Number(row.done),
    total: Number(row.total),
    rowsMoved: Number(row.rows_moved),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}
