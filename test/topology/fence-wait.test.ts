import { afterEach, describe, expect, test } from 'vitest'
import type { Knex } from 'knex'
import { ConflictError, type ShardConfig } from '../../src/index.js'
import { fenceTableOf } from '../../src/topology/table-names.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const opened: TestCluster[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

/** Holds `shardId`'s fence row exclusively on a connection of its own, as an epoch change does, until `release()`. */
async function holdFence(test: TestCluster, shardId: string): Promise<{ release(): Promise<void> }> {
  const trx: Knex.Transaction = await test.cluster.forShard(shardId).transaction()
  await trx.raw(`SELECT epoch FROM ${fenceTableOf(test.logTable)} WHERE shard_id = ? FOR UPDATE`, [shardId])
  return { release: () => trx.rollback().then(() => undefined) }
}

/**
 * Resolves once a session of `shardId`'s server runs the fence check of a first branch:
 * with the fence row held, running is waiting (the check alone takes microseconds).
 */
async function someoneWaitsOnFence(test: TestCluster, shardId: string, unless: { settled: boolean }): Promise<'waiting' | 'settled'> {
  const knex = test.cluster.forShard(shardId)
  for (;;) {
    if (unless.settled) return 'settled'
    const [rows] = (await knex.raw('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE ?', [
      `SELECT epoch FROM \`${fenceTableOf(test.logTable)}\`%LOCK IN SHARE MODE WAIT%`,
    ])) as [{ n: number }[]]
    if (Number(rows[0]!.n) > 0) return 'waiting'
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('the MariaDB fence while an epoch change holds it', () => {
  const [s0, s1] = sharedShards('mysql') as [ShardConfig, ShardConfig]

  async function accounts(): Promise<{ test: TestCluster; table: string }> {
    const test = await startTestCluster([s0, s1])
    opened.push(test)
    const table = test.table('waits')
    await test.createAccounts(table, [s0.id, s1.id], [{ id: 1, balance: 10 }])
    await test.cluster.transaction(async () => {}) // first use: the topology and the fence rows
    return { test, table }
  }

  test("a transaction's first branch waits for the hold to end, then commits: no refusal, no retry", async () => {
    const { test, table } = await accounts()
    const hold = await holdFence(test, s0.id)
    let released = false
    const transfer = test.cluster.transaction(async (tx) => {
      await tx.forShard(s0.id)(table).where({ id: 1 }).decrement('balance', 1)
      expect(released).toBe(true) // its first statement ran only after the hold ended
      await tx.forShard(s1.id)(table).where({ id: 1 }).increment('balance', 1)
    })
    const settled = { settled: false }
    void transfer.catch(() => {}).finally(() => (settled.settled = true))
    try {
      // Refused at once (NOWAIT), it would settle without ever being seen waiting.
      expect(await someoneWaitsOnFence(test, s0.id, settled)).toBe('waiting')
    } finally {
      released = true
      await hold.release()
    }
    await transfer
    expect(await test.balances(table, s0.id)).toEqual(new Map([[1, 9]]))
    expect(await test.balances(table, s1.id)).toEqual(new Map([[1, 11]]))
  })

  test('a later branch, which holds another shard\'s fence already, is refused at once with a retryable ConflictError and nothing commits', async () => {
    const { test, table } = await accounts()
    const hold = await holdFence(test, s0.id)
    try {
      const transfer = test.cluster.transaction(async (tx) => {
        await tx.forShard(s1.id)(table).where({ id: 1 }).increment('balance', 1)
        await tx.forShard(s0.id)(table).where({ id: 1 }).decrement('balance', 1)
      })
      await expect(transfer).rejects.toMatchObject({ retryable: true })
      const error = await transfer.catch((e: unknown) => e)
      let cause: unknown = error
      while (cause !== undefined && !(cause instanceof ConflictError)) cause = (cause as { cause?: unknown }).cause
      expect(cause).toBeInstanceOf(ConflictError)
    } finally {
      await hold.release()
    }
    expect(await test.balances(table, s0.id)).toEqual(new Map([[1, 10]]))
    expect(await test.balances(table, s1.id)).toEqual(new Map([[1, 10]]))
  })
})
