import type mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, DistributedDeadlockError } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { connectMysql } from '../support/raw-connections.js'

/** Detectors of this many other processes read the MariaDB server while the cycle forms. */
const OTHER_PROCESSES = 4
/** Each detector reads a waiting shard about this often: together far more often than every 100 ms. */
const DEADLOCK_TIMEOUT_MS = 50
/** Long enough that only the detector can end the cycle within the test's time (and below the 30 s transaction timeout). */
const LOCK_TIMEOUT_MS = 20_000

/**
 * InnoDB refills its lock views only after 100 ms without a reader, and each read
 * restarts that wait (docs/deadlocks.md). Detectors of many processes, each
 * reading a shard every `deadlockTimeout`, would keep the view of the moment
 * before a cycle formed, and the cycle would last until the lock timeout. They
 * read only in windows of the wall clock instead, leaving the view unread long
 * enough to be refilled in between (adapters/mysql/innodb-view-window.ts).
 * What each detector reads depends on every reader of the server, so this file
 * has servers of its own.
 */
describe('deadlock detection while detectors of many processes read one MariaDB server', () => {
  let local: LocalCluster
  let t: TestCluster
  let accounts: string
  const others: Cluster[] = []
  let holder: mysql.Connection

  beforeAll(async () => {
    local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
    const pg = local.shards.find((s) => s.dialect === 'postgres')!.id
    const my = local.shards.find((s) => s.dialect === 'mysql')!.id
    t = await startTestCluster(local.shards, { log: pg, deadlockTimeout: DEADLOCK_TIMEOUT_MS })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, [pg, my], [1, 2].map((id) => ({ id, balance: 100 })))
    // Each other cluster has pools and a detector of its own, as another process would.
    for (let i = 0; i < OTHER_PROCESSES + 1; i++) {
      others.push(
        createCluster({ shards: local.shards, log: pg, prefix: t.prefix, logTable: t.logTable, recovery: false, deadlockTimeout: DEADLOCK_TIMEOUT_MS }),
      )
    }
    holder = await connectMysql(local.shards.find((s) => s.id === my)!)
  })
  afterAll(async () => {
    holder?.destroy()
    for (const other of others) await other.close()
    await t?.close()
    await local?.destroy()
  })

  it('still sees a cycle that forms while they all read, and aborts exactly one victim', async () => {
    const pg = local.shards.find((s) => s.dialect === 'postgres')!.id
    const my = local.shards.find((s) => s.dialect === 'mysql')!.id
    const [second, ...readers] = others as [Cluster, ...Cluster[]]
    // A raw session holds row 2 on MariaDB; a transaction of each reader waits behind it
    // (a chain, no cycle), so each reader's detector reads the server every 50 ms.
    await holder.query('BEGIN')
    await holder.query(`SELECT balance FROM ${accounts} WHERE id = 2 FOR UPDATE`)
    const queued = readers.map((reader) =>
      reader
        .transaction((tx) => tx.forShard(my)(accounts).where({ id: 2 }).increment('balance', 1), { lockTimeout: LOCK_TIMEOUT_MS })
        .then(() => 'committed', (error: unknown) => error),
    )
    try {
      await until(() => readers.every((reader) => reader.stats().deadlocks.rounds >= 3))
      // Now the cycle: each transaction holds row 1 on one shard and asks for it on the other.
      let arrived = 0
      let bothLocked!: () => void
      const together = new Promise<void>((resolve) => (bothLocked = resolve))
      const transfer = (cluster: Cluster, first: string, then: string) =>
        cluster
          .transaction(
            async (tx) => {
              await tx.forShard(first)(accounts).where({ id: 1 }).increment('balance', 1)
              if (++arrived === 2) bothLocked()
              await together
              await tx.forShard(then)(accounts).where({ id: 1 }).increment('balance', 1)
            },
            { lockTimeout: LOCK_TIMEOUT_MS },
          )
          .then(() => undefined, (error: unknown) => error)
      const outcomes = await Promise.all([transfer(t.cluster, pg, my), transfer(second, my, pg)])
      const failed = outcomes.filter((o) => o !== undefined)
      expect(failed).toHaveLength(1)
      // Not a lock timeout: the detector saw the cycle although the server was read all along.
      expect(failed[0]).toBeInstanceOf(DistributedDeadlockError)
    } finally {
      await holder.query('ROLLBACK')
    }
    // The chain behind the raw session was never taken for a cycle: all of it commits.
    expect(await Promise.all(queued)).toEqual(readers.map(() => 'committed'))
    expect(readers.reduce((sum, reader) => sum + reader.stats().deadlocks.victims, 0)).toBe(0)
    expect((await t.balances(accounts, my)).get(2)).toBe(100 + readers.length)
  })
})

/** Resolves once `check` holds, looking every 20 ms; the test's own timeout bounds it. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20))
}
