import type { Knex } from 'knex'

let lastSavepoint = 0

/**
 * Runs `statement` on several branches of one transaction, all-or-nothing even
 * when the caller catches the error: each branch sets a savepoint first, and if
 * any statement fails, every branch rolls back to its savepoint (on PostgreSQL
 * this also clears the failed state a statement error leaves behind). Costs one
 * round trip per branch before and one after, in parallel across shards; only
 * statements that span shards inside an explicit transaction pay it.
 *
 * Savepoints are named uniquely, yet two such statements running at the same time
 * on the same transaction could still interleave theirs: await one before the next.
 */
export async function writeAtomically<T>(
  targets: readonly { shardId: string; knex: Knex }[],
  statement: (knex: Knex, shardId: string) => PromiseLike<T>,
): Promise<T[]> {
  const savepoint = `shardtx_stmt_${++lastSavepoint}`
  const marked = new Set<string>()
  const outcomes = await Promise.allSettled(
    targets.map(async ({ shardId, knex }) => {
      await knex.raw('savepoint ??', [savepoint])
      marked.add(shardId)
      return statement(knex, shardId)
    }),
  )
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')
  if (failure !== undefined) {
    // If a branch cannot roll back to its savepoint its connection is broken or the
    // transaction is aborting; either way it cannot commit, so the first error stands.
    await Promise.allSettled(
      targets.filter((t) => marked.has(t.shardId)).map(({ knex }) => knex.raw('rollback to savepoint ??', [savepoint])),
    )
    throw failure.reason
  }
  await Promise.all(targets.map(({ knex }) => knex.raw('release savepoint ??', [savepoint])))
  return outcomes.map((o) => (o as PromiseFulfilledResult<T>).value)
}
