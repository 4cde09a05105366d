import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRetryable, ShardUnavailableError, TransactionInDoubtError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { type Relay, relayedShard } from '../helpers/relay.js'
import { sharedShards } from '../support/shared-cluster.js'

describe('retry and retryable agree: a shard that was unavailable', () => {
  let t: TestCluster
  let relay: Relay
  let accounts: string
  let cutAt: string | undefined

  beforeAll(async () => {
    // The same PostgreSQL database as pg-0, reached only through the relay. Not the log shard.
    const { relay: relayed, shard: flaky } = await relayedShard(sharedShards('postgres')[0]!, 'flaky')
    relay = relayed
    const mysql = sharedShards('mysql')[0]!
    t = await startTestCluster([mysql, flaky], {
      log: mysql.id,
      onStep: (event) => {
        if (event.step === cutAt && event.shardId === 'flaky') relay.cut()
      },
    })
    accounts = t.table('accounts')
    await relay.open()
    await t.createAccounts(accounts, [mysql.id, 'flaky'], [{ id: 1, balance: 0 }])
    await relay.close()
  })

  afterAll(async () => {
    cutAt = undefined
    await relay.open().catch(() => {})
    await t?.close()
    await relay.close()
  })

  it('is retried while the decision is still ahead, and commits once the shard is back', async () => {
    const errors: unknown[] = []
    let runs = 0
    const result = await t.cluster.transaction(
      async (tx) => {
        runs++
        // Deterministic, no clock: the shard comes back when the second attempt starts.
        if (runs === 2) await relay.open()
        await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
        await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 1)
        return runs
      },
      { retry: { attempts: 3, backoff: (_n, error) => (errors.push(error), 0) } },
    )
    expect(result).toBe(2)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ShardUnavailableError)
    expect((errors[0] as ShardUnavailableError).shardId).toBe('flaky')
    expect(isRetryable(errors[0])).toBe(true)
    // The first attempt's increment on my-0 was rolled back: one increment each.
    expect((await t.balances(accounts, 'my-0')).get(1)).toBe(1)
    expect((await t.balances(accounts, 'flaky')).get(1)).toBe(1)
  })

  it('gives up after its attempts with the ShardUnavailableError itself', async () => {
    await relay.close()
    let runs = 0
    const error = await t.cluster
      .transaction(
        async (tx) => {
          runs++
          await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 1)
        },
        { retry: { attempts: 3, backoff: 0 } },
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ShardUnavailableError)
    expect(runs).toBe(3)
    await relay.open()
  })

  it('is not retried at the decision: a one-phase COMMIT that loses its connection is in doubt, run once', async () => {
    let runs = 0
    cutAt = 'one-phase'
    const error = await t.cluster
      .transaction(
        async (tx) => {
          runs++
          await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 100)
        },
        { retry: { attempts: 5, backoff: 0 } },
      )
      .catch((e: unknown) => e)
      .finally(() => (cutAt = undefined))
    expect(error).toBeInstanceOf(TransactionInDoubtError)
    expect(isRetryable(error)).toBe(false)
    expect(runs).toBe(1)
  })

  it('is not retried after the decision: a COMMIT PREPARED cut off leaves a committed transaction, run once', async () => {
    const before = (await t.balances(accounts, 'flaky')).get(1)!
    let runs = 0
    cutAt = 'commit'
    await t.cluster
      .transaction(
        async (tx) => {
          runs++
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 10)
          await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 10)
        },
        { retry: { attempts: 5, backoff: 0 } },
      )
      .finally(() => (cutAt = undefined))
    expect(runs).toBe(1)
    // The cut branch stayed prepared; recovery commits it by the logged decision.
    const report = await t.cluster.recover()
    expect(report.committed.map((b) => b.shardId)).toEqual(['flaky'])
    expect((await t.balances(accounts, 'flaky')).get(1)).toBe(before + 10)
  })
})
