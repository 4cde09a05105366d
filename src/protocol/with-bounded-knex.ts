import type { Knex } from 'knex'
import type { BranchDriver } from './participant.js'

/**
 * Runs `work` on a knex instance of the shard's own whose every statement is bounded
 * by `statementMs` (one that misses it is a ShardUnresponsiveError and its connection
 * is closed), and destroys that instance after: for operations that a path dropping
 * every byte must not hold, such as migrations, probes and reading a job's plan.
 *
 * ```ts
 * const plan = await withBoundedKnex(participant, 5_000, (knex) => store.get(knex, jobId))
 * ```
 */
export async function withBoundedKnex<T>(shard: Pick<BranchDriver, 'boundedKnex'>, statementMs: number, work: (knex: Knex) => Promise<T>): Promise<T> {
  const knex = shard.boundedKnex(statementMs)
  try {
    return await work(knex)
  } finally {
    await knex.destroy().catch(() => {})
  }
}
