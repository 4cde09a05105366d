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
})
