import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRetryable, ShardUnavailableError, TransactionAbortedError, TransactionInDoubtError } from '../../src/index.js'
import type { Dialect } from '../../src/config/shard-config.js'
import { type Relay, relayedShard } from '../helpers/relay.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A commit point whose statement was never sent. When the branch's connection had
 * broken before its COMMIT (or the log branch's INSERT + COMMIT), the server session
 * can only roll back: the caller hears "aborted" (retryable), not "in doubt". The
 * branch's shard is reached through a relay that the callback cuts; the callback then
 * swallows the failure of one more statement, by which time the driver has seen the
 * break (its socket ended or errored before that statement failed).
 */
describe.each<Dialect>(['postgres', 'mysql'])('a commit whose connection broke before it was sent (%s)', (dialect) => {
  let t: TestCluster
  let relay: Relay
  let accounts: string
  /** The flaky shard's database read directly, not through the relay, whose cuts leave dead connections in the cluster's pool. */
  let direct: Knex
  const other = sharedShards(dialect === 'postgres' ? 'mysql' : 'postgres')[0]!

  beforeAll(async () => {
    // The same database as the shared server's, reached only through the relay; the log shard.
    const { relay: relayed, shard: flaky, direct: target } = await relayedShard(sharedShards(dialect)[0]!, 'flaky')
    relay = relayed
    await relay.open()
    t = await startTestCluster([flaky, other], { log: 'flaky' })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['flaky', other.id], [{ id: 1, balance: 0 }])
    direct = knexFactory({ client: dialect === 'postgres' ? 'pg' : 'mysql2', connection: target, pool: { min: 0, max: 1 } })
  })

  afterAll(async () => {
    await relay.open().catch(() => {})
    await direct?.destroy()
    await t?.close()
    await relay.close()
  })

  /** Cuts every relayed connection and waits until a statement on `flaky` in `tx` has failed. */
  async function breakFlaky(tx: Parameters<Parameters<TestCluster['cluster']['transaction']>[0]>[0], refuse = false): Promise<void> {
    if (refuse) await relay.close()
    else relay.cut()
    const failed = await tx
      .forShard('flaky')
      .raw('select 1')
      .then(() => false)
      .catch(() => true)
    expect(failed).toBe(true)
  }

  const balance = async (shardId: string): Promise<number> => {
    if (shardId !== 'flaky') return (await t.balances(accounts, shardId)).get(1)!
    const row = (await direct(accounts).where({ id: 1 }).first()) as { balance: number }
    return Number(row.balance)
  }

  it('one-phase: aborted and retryable, nothing committed', async () => {
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 100)
        await breakFlaky(tx)
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect(error).not.toBeInstanceOf(TransactionInDoubtError)
    expect(isRetryable(error)).toBe(true)
    const cause = (error as TransactionAbortedError).cause
    expect(cause).toBeInstanceOf(ShardUnavailableError)
    expect((cause as ShardUnavailableError).shardId).toBe('flaky')
    expect((cause as Error).message).toMatch(/COMMIT was not sent/)
    expect(await balance('flaky')).toBe(0)
  })

  it('one-phase with retry: runs again on a fresh connection and commits once', async () => {
    let runs = 0
    await t.cluster.transaction(
      async (tx) => {
        runs++
        await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 1)
        if (runs === 1) await breakFlaky(tx)
      },
      { retry: { attempts: 3, backoff: 0 } },
    )
    expect(runs).toBe(2)
    expect(await balance('flaky')).toBe(1)
  })

  it('two-phase, the decision in the log branch: aborted without the log shard, the other branch rolled back', async () => {
    const before = await balance(other.id)
    try {
      const error = await t.cluster
        .transaction(async (tx) => {
          await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 10)
          await tx.forShard(other.id)(accounts).where({ id: 1 }).increment('balance', 10)
          // The log shard now refuses connections too: a fence of the decision could not run.
          await breakFlaky(tx, true)
        })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(TransactionAbortedError)
      expect(error).not.toBeInstanceOf(TransactionInDoubtError)
      expect(isRetryable(error)).toBe(true)
      expect(((error as TransactionAbortedError).cause as Error).message).toMatch(/the decision was not sent/)
      expect(await balance(other.id)).toBe(before)
    } finally {
      await relay.open()
    }
    expect(await t.preparedBranches()).toEqual([])
    expect(await balance('flaky')).toBe(1)
  })
})
