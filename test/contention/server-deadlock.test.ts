import type { Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/** Resolves once both callers have called it. */
function barrier(): () => Promise<void> {
  let arrived = 0
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return async () => {
    if (++arrived === 2) open()
    await opened
  }
}

describe('a deadlock the server itself finds (one MariaDB shard)', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    // Detection off: the cycle is on one server, and InnoDB breaks it at once.
    t = await startTestCluster(sharedShards(), { log: 'pg-0', deadlockTimeout: false })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['my-0'], [{ id: 1, balance: 100 }, { id: 2, balance: 100 }])
  })
  afterAll(() => t.close())

  /**
   * A deadlock on my-0 between two transactions, after rows 1 and 2 are reset to 100:
   * each holds row `first` (after `held`, when given), then issues `together` at once,
   * whose first statement waits for the other's row. Resolves with each side's
   * rejected statements' reasons, or undefined for the side that committed.
   */
  async function deadlockWith(
    together: (shard: Knex, first: number, second: number) => Promise<unknown>[],
    held?: (shard: Knex) => Promise<unknown>,
  ): Promise<(unknown[] | undefined)[]> {
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('my-0')(accounts).whereIn('id', [1, 2]).update({ balance: 100 })
    })
    const bothLocked = barrier()
    const side = (first: number, second: number) =>
      t.cluster
        .transaction(async (tx) => {
          const shard = tx.forShard('my-0')
          await shard(accounts).where({ id: first }).increment('balance', 1)
          await held?.(shard)
          await bothLocked()
          const results = await Promise.allSettled(together(shard, first, second))
          const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
          if (rejected.length > 0) throw Object.assign(new Error('statements failed'), { reasons: rejected.map((r) => r.reason as unknown) })
        })
        .then(() => undefined, (error: { reasons?: unknown[] }) => error.reasons)
    return Promise.all([side(1, 2), side(2, 1)])
  }

  it("fails one side with a retryable ConflictError of kind 'deadlock', and halves the admission limit", async () => {
    const before = t.cluster.stats().admission
    const bothLocked = barrier()
    const side = (first: number, second: number) =>
      t.cluster
        .transaction(async (tx) => {
          await tx.forShard('my-0')(accounts).where({ id: first }).increment('balance', 1)
          await bothLocked()
          await tx.forShard('my-0')(accounts).where({ id: second }).increment('balance', 1)
        })
        .then(() => undefined, (error: unknown) => error)
    const outcomes = await Promise.all([side(1, 2), side(2, 1)])
    const failed = outcomes.filter((o) => o !== undefined)
    expect(failed).toHaveLength(1)
    const error = failed[0] as ConflictError
    expect(error).toBeInstanceOf(ConflictError)
    expect(error.kind).toBe('deadlock')
    expect(error.serverCode).toBe('1213')
    expect(error.retryable).toBe(true)
    const after = t.cluster.stats().admission
    expect(after.deadlocks).toBe(before.deadlocks + 1)
    expect(after.limit).toBe(Math.max(1, Math.floor(before.limit / 2)))
  })

  it('fails a statement queued behind the deadlocked one with a ConflictError of the same kind, never sending it', async () => {
    // The second statement queues behind the first on the branch's connection.
    const outcomes = await deadlockWith((shard, first, second) => [
      shard(accounts).where({ id: second }).increment('balance', 1),
      shard(accounts).where({ id: first }).increment('balance', 10),
    ])
    const reasons = outcomes.filter((o) => o !== undefined)
    expect(reasons).toHaveLength(1)
    const [deadlocked, queued] = reasons[0]!
    expect(deadlocked).toBeInstanceOf(ConflictError)
    expect((deadlocked as ConflictError).kind).toBe('deadlock')
    // Not MariaDB's 1399 (the branch is ROLLBACK ONLY): the cause, typed and retryable.
    expect(queued).toBeInstanceOf(ConflictError)
    expect(queued).toMatchObject({ kind: 'deadlock', serverCode: '1213', retryable: true })
    expect((queued as Error).message).toContain('not sent: an earlier statement on this branch met a deadlock (1213)')
    // The survivor's two statements both ran; the victim's none.
    const balances = await t.balances(accounts, 'my-0')
    const survivorFirst = outcomes[0] === undefined ? 1 : 2
    expect(balances.get(survivorFirst)).toBe(111)
    expect(balances.get(3 - survivorFirst)).toBe(101)
  })

  it('fails a ROLLBACK TO SAVEPOINT queued there too: MariaDB rolled the whole branch back, its savepoints with it', async () => {
    const outcomes = await deadlockWith(
      (shard, first, second) => [
        shard(accounts).where({ id: second }).increment('balance', 1),
        shard.raw('ROLLBACK TO SAVEPOINT before_second'),
        shard(accounts).where({ id: first }).increment('balance', 10),
      ],
      (shard) => shard.raw('SAVEPOINT before_second'),
    )
    const reasons = outcomes.filter((o) => o !== undefined)
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toHaveLength(3)
    for (const reason of reasons[0]!) expect(reason).toMatchObject({ kind: 'deadlock', serverCode: '1213' })
  })

  it('refuses statements a victim issues after catching the deadlock, and fails it with the deadlock at the end (retryable: with retry it commits)', async () => {
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('my-0')(accounts).whereIn('id', [1, 2]).update({ balance: 100 })
    })
    const bothLocked = barrier()
    const laterErrors: unknown[] = []
    const side = (first: number, second: number) => {
      let attempts = 0
      return t.cluster
        .transaction(
          async (tx) => {
            const shard = tx.forShard('my-0')
            await shard(accounts).where({ id: first }).increment('balance', 1)
            if (++attempts === 1) await bothLocked()
            // A caller that swallows the error and goes on.
            await shard(accounts).where({ id: second }).increment('balance', 1).catch(() => undefined)
            await shard(accounts).where({ id: first }).increment('balance', 10).catch((error: unknown) => void laterErrors.push(error))
          },
          { retry: { attempts: 3 } },
        )
        .then(() => attempts)
    }
    const attempts = await Promise.all([side(1, 2), side(2, 1)])
    // One side lost the deadlock once and committed on its second attempt.
    expect(attempts.sort()).toEqual([1, 2])
    expect(laterErrors).toHaveLength(1)
    expect(laterErrors[0]).toBeInstanceOf(ConflictError)
    expect(laterErrors[0]).toMatchObject({ kind: 'deadlock', serverCode: '1213' })
    expect((laterErrors[0] as Error).message).toContain('not sent')
    const balances = await t.balances(accounts, 'my-0')
    expect([balances.get(1), balances.get(2)]).toEqual([112, 112])
  })
})
