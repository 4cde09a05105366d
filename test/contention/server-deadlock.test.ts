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
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('my-0')(accounts).whereIn('id', [1, 2]).update({ balance: 100 })
    })
    const bothLocked = barrier()
    // Each side holds one row, then issues two statements at once: the first waits for the other
    // side's row, the second queues behind it on the branch's connection.
    const side = (first: number, second: number) =>
      t.cluster
        .transaction(async (tx) => {
          const shard = tx.forShard('my-0')
          await shard(accounts).where({ id: first }).increment('balance', 1)
          await bothLocked()
          const results = await Promise.allSettled([shard(accounts).where({ id: second }).increment('balance', 1), shard(accounts).where({ id: first }).increment('balance', 10)])
          const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
          if (rejected.length > 0) throw Object.assign(new Error('statements failed'), { reasons: rejected.map((r) => r.reason as unknown) })
        })
        .then(() => undefined, (error: { reasons?: unknown[] }) => error.reasons)
    const outcomes = await Promise.all([side(1, 2), side(2, 1)])
    const reasons = outcomes.filter((o) => o !== undefined)
    expect(reasons).toHaveLength(1)
    const [deadlocked, queued] = reasons[0]!
    expect(deadlocked).toBeInstanceOf(ConflictError)
    expect((deadlocked as ConflictError).kind).toBe('deadlock')
    // Not MariaDB's 1399 (the branch is ROLLBACK ONLY): the cause, typed and retryable.
    expect(queued).toBeInstanceOf(ConflictError)
    expect(queued).toMatchObject({ kind: 'deadlock', serverCode: '1213', retryable: true })
    expect((queued as Error).message).toContain('not sent: the statement before it on this branch met a deadlock (1213)')
    // The survivor's two statements both ran; the victim's none.
    const balances = await t.balances(accounts, 'my-0')
    const survivorFirst = outcomes[0] === undefined ? 1 : 2
    expect(balances.get(survivorFirst)).toBe(111)
    expect(balances.get(3 - survivorFirst)).toBe(101)
  })
})
