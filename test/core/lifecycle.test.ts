import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ClosedError,
  ConfigError,
  ConflictError,
  createCluster,
  TransactionAbortedError,
  TransactionTimeoutError,
  type Transaction,
} from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { runningStatements } from '../support/server-activity.js'
import { sharedShards } from '../support/shared-cluster.js'

describe('transaction and cluster life cycle', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['pg-0', 'my-0'], [{ id: 1, balance: 100 }])
  })
  afterAll(() => t.close())

  it('refuses a transaction used after it finished', async () => {
    let kept: Transaction | undefined
    let builder: PromiseLike<unknown> | undefined
    await t.cluster.transaction(async (tx) => {
      kept = tx
      await tx.forShard('pg-0')(accounts).select()
      builder = tx.forShard('my-0')(accounts).select()
    })
    expect(() => kept!.forShard('pg-0')).toThrow(ClosedError)
    // A builder made inside but run after the end is refused before it reaches the server.
    await expect(builder!).rejects.toBeInstanceOf(ClosedError)
  })

  it('refuses a shard it does not know', async () => {
    await expect(t.cluster.transaction((tx) => tx.forShard('nope')('x').select())).rejects.toBeInstanceOf(ConfigError)
  })

  // The statement would run for 10 minutes: without the cancel the transaction
  // would wait for it (it settles its branches before rolling back), and the
  // test's own time limit fails the test. The server then shows the statement gone.
  for (const [shardId, dialect, sleep] of [
    ['pg-0', 'postgres', 'select pg_sleep(600)'],
    ['my-0', 'mysql', 'select sleep(600)'],
  ] as const) {
    it(`aborts a callback that outlives its timeout and cancels its running statement on ${dialect}`, async () => {
      const marker = `cancel_${accounts}`
      const error = await t.cluster
        .transaction(
          async (tx) => {
            await tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', 1)
            await tx.forShard(shardId).raw(`${sleep} /* ${marker} */`)
          },
          { timeout: 300 },
        )
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(TransactionAbortedError)
      expect((error as Error).cause).toBeInstanceOf(TransactionTimeoutError)
      expect(await runningStatements(t.cluster.forShard(shardId), dialect, marker)).toBe(0)
      expect((await t.balances(accounts, shardId)).get(1)).toBe(100)
    }, 30_000)
  }

  it('aborts a callback that never resolves', async () => {
    const error = await t.cluster
      .transaction(
        async (tx) => {
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await new Promise(() => {})
        },
        { timeout: 200 },
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect((await t.balances(accounts, 'my-0')).get(1)).toBe(100)
  })

  it('aborts on its AbortSignal', async () => {
    const controller = new AbortController()
    const error = await t.cluster
      .transaction(
        async (tx) => {
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          controller.abort(new Error('user left'))
          await tx.forShard('pg-0')(accounts).select()
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect((await t.balances(accounts, 'my-0')).get(1)).toBe(100)
    await expect(t.cluster.transaction(async () => 1, { signal: controller.signal })).rejects.toBeInstanceOf(
      TransactionAbortedError,
    )
  })

  it('rejects unknown transaction options', async () => {
    await expect(t.cluster.transaction(async () => 1, { timeuot: 5 } as never)).rejects.toBeInstanceOf(ConfigError)
    await expect(t.cluster.transaction(async () => 1, { isolationLevel: 'snapshot' as never })).rejects.toBeInstanceOf(ConfigError)
  })

  it.each(['pg-0', 'my-0'])('turns a lock timeout on %s into a retryable ConflictError', async (shardId) => {
    let release!: () => void
    const holding = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holder = t.cluster.transaction(async (tx) => {
      await tx.forShard(shardId)(accounts).where({ id: 1 }).forUpdate().select()
      locked()
      await holding
    })
    await isLocked
    const error = await t.cluster
      .transaction((tx) => tx.forShard(shardId)(accounts).where({ id: 1 }).increment('balance', 1), { lockTimeout: 500 })
      .catch((e: unknown) => e)
    release()
    await holder
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as ConflictError).retryable).toBe(true)
    expect((error as ConflictError).shardId).toBe(shardId)
    expect((error as ConflictError).serverCode).toBe(shardId.startsWith('pg') ? '55P03' : '1205')
  })

  it('refuses a closed cluster', async () => {
    const other = createCluster({ shards: sharedShards(), recovery: false })
    await other.close()
    await other.close()
    expect(() => other.shardFor('k')).toThrow(ClosedError)
    await expect(other.transaction(async () => 1)).rejects.toBeInstanceOf(ClosedError)
  })
})
