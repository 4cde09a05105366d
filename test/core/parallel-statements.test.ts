import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/** pg's Client at run time: the queue it keeps of queries handed to it while another runs. */
type QueueingClient = { _queryQueue: unknown[]; query: (...args: unknown[]) => unknown }

/**
 * Statements issued together on one branch (`Promise.all` on one shard). A
 * connection runs them one after another anyway; the branch hands them to the
 * driver one at a time, in the order issued, so pg never queues a query behind
 * another (deprecated in pg 8, a warning on stderr, gone in pg 9).
 */
describe('statements issued together on one branch', () => {
  let t: TestCluster
  let rows: string
  const shards = ['pg-0', 'my-0']
  /** pg queries handed to a client that was still busy with another. */
  let queuedBehind = 0
  const query = pg.Client.prototype.query as QueueingClient['query']

  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'pg-0' })
    rows = t.table('accounts')
    await t.createAccounts(rows, shards, [1, 2, 3].map((id) => ({ id, balance: 0 })))
    pg.Client.prototype.query = function (this: QueueingClient, ...args: unknown[]) {
      if (this._queryQueue.length > 0) queuedBehind++
      return query.apply(this, args)
    } as typeof pg.Client.prototype.query
  })
  afterAll(async () => {
    pg.Client.prototype.query = query as typeof pg.Client.prototype.query
    await t.close()
  })
  afterEach(() => {
    queuedBehind = 0
  })

  /** Runs `work` while another session holds row 3 of `shardId` in `holder`, a transaction `work` ends. */
  async function withRow3Held<T>(shardId: string, work: (holder: Knex.Transaction) => Promise<T>): Promise<T> {
    const shard = sharedShards().find((c) => c.id === shardId)!
    const other: Knex = knexFactory({ client: shard.dialect === 'postgres' ? 'pg' : 'mysql2', connection: shard.connection, pool: { min: 0, max: 1 } })
    try {
      const holder = await other.transaction()
      await holder(rows).where({ id: 3 }).forUpdate().select('id')
      return await work(holder)
    } finally {
      await other.destroy()
    }
  }

  it.each(shards)('on %s: all run, in the order issued, the first carrying BEGIN, and commit together', async (shardId) => {
    const results = await t.cluster.transaction(async (tx) => {
      const q = tx.forShard(shardId)
      return Promise.all([
        q(rows).where({ id: 1 }).increment('balance', 1),
        q(rows).where({ id: 1 }).increment('balance', 10),
        q(rows).where({ id: 2 }).increment('balance', 1),
        q(rows).select('id', 'balance').orderBy('id'),
      ])
    })
    expect(results.slice(0, 3)).toEqual([1, 1, 1])
    // The read was issued last, so it sees the three writes before it.
    expect((results[3] as { id: number; balance: number }[]).map((r) => [r.id, Number(r.balance)])).toEqual([
      [1, 11],
      [2, 1],
      [3, 0],
    ])
    expect((await t.balances(rows, shardId)).get(1)).toBe(11)
    expect(queuedBehind).toBe(0)
  })

  it.each(shards)('on %s: a callback that fails after them rolls all of them back', async (shardId) => {
    const before = await t.balances(rows, shardId)
    const outcome = await t.cluster
      .transaction(async (tx) => {
        const q = tx.forShard(shardId)
        await Promise.all([q(rows).where({ id: 3 }).increment('balance', 5), q(rows).where({ id: 3 }).increment('balance', 5)])
        throw new Error('changed my mind')
      })
      .then(() => 'committed', (error: Error) => error.message)
    expect(outcome).toBe('changed my mind')
    expect(await t.balances(rows, shardId)).toEqual(before)
    expect(queuedBehind).toBe(0)
  })

  it.each(shards)(
    'on %s: one past its .timeout() while it waits behind another is never sent, and the one running is not cancelled',
    async (shardId) => {
      // Another session holds row 3, so the branch's first statement waits until the test lets it go.
      await withRow3Held(shardId, async (holder) => {
        const before = await t.balances(rows, shardId)
        const [blocked, timedOut] = await t.cluster.transaction(async (tx) => {
          const q = tx.forShard(shardId)
          // A builder runs when `then` is called: this one first.
          const waiting = q(rows).where({ id: 3 }).increment('balance', 1).then((n) => n)
          const queued = q(rows).where({ id: 2 }).increment('balance', 100).timeout(100, { cancel: true })
          // Its timeout ends while the statement ahead of it still waits for the row: only then is the row let go.
          const failure = await queued.then(() => undefined, (error: Error) => error)
          await holder.commit()
          return [await waiting, failure]
        })
        expect(blocked).toBe(1)
        expect(timedOut?.message).toContain('before the query was sent')
        const after = await t.balances(rows, shardId)
        expect(after.get(3)).toBe(before.get(3)! + 1)
        expect(after.get(2)).toBe(before.get(2))
      })
    },
  )

  it.each(shards)('on %s: one queued behind a statement that timed out on a lock is sent only where the branch lives on', async (shardId) => {
    // Another session holds row 3: the branch's first statement waits for it until its lock timeout.
    await withRow3Held(shardId, async (holder) => {
      const before = await t.balances(rows, shardId)
      let results: PromiseSettledResult<unknown>[] = []
      const outcome = await t.cluster
        .transaction(
          async (tx) => {
            const q = tx.forShard(shardId)
            results = await Promise.allSettled([q(rows).where({ id: 3 }).increment('balance', 1), q(rows).where({ id: 2 }).increment('balance', 100)])
            await holder.rollback()
          },
          { lockTimeout: 1_000 },
        )
        .then(() => 'committed', () => 'failed')
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { kind: 'lock timeout' } })
      if (shardId === 'pg-0') {
        // PostgreSQL aborts the transaction on the timeout: the queued statement is never sent, and
        // fails with the timeout's ConflictError rather than 25P02 (commands ignored until the end).
        expect(results[1]!.status).toBe('rejected')
        const queued = (results[1] as PromiseRejectedResult).reason as ConflictError
        expect(queued).toBeInstanceOf(ConflictError)
        expect(queued.kind).toBe('lock timeout')
        expect(queued.message).toContain('not sent')
        expect(outcome).toBe('failed')
      } else {
        // MariaDB rolls back the timed-out statement only: the one behind it runs, and commits.
        expect(results[1]).toEqual({ status: 'fulfilled', value: 1 })
        expect(outcome).toBe('committed')
      }
      const after = await t.balances(rows, shardId)
      expect(after.get(3)).toBe(before.get(3))
    })
  })

  it('on pg-0: a ROLLBACK TO SAVEPOINT queued behind a statement that timed out on a lock is still sent, and the branch lives on', async () => {
    await withRow3Held('pg-0', async (holder) => {
      const before = await t.balances(rows, 'pg-0')
      let results: PromiseSettledResult<unknown>[] = []
      await t.cluster.transaction(
        async (tx) => {
          const q = tx.forShard('pg-0')
          await q.raw('SAVEPOINT before_hot_row')
          results = await Promise.allSettled([q(rows).where({ id: 3 }).increment('balance', 1), q.raw('ROLLBACK TO SAVEPOINT before_hot_row')])
          await holder.rollback()
          await q(rows).where({ id: 2 }).increment('balance', 7)
        },
        { lockTimeout: 500 },
      )
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { kind: 'lock timeout' } })
      expect(results[1]!.status).toBe('fulfilled')
      const after = await t.balances(rows, 'pg-0')
      expect(after.get(3)).toBe(before.get(3))
      expect(after.get(2)).toBe(before.get(2)! + 7)
    })
  })

  it('on pg-0: a ROLLBACK TO SAVEPOINT that fails lifts nothing; one after a comment is still one', async () => {
    const attempt = (rollbackTo: string) =>
      withRow3Held('pg-0', async (holder) => {
        let later: unknown
        const outcome = await t.cluster
          .transaction(
            async (tx) => {
              const q = tx.forShard('pg-0')
              await q.raw('SAVEPOINT before_hot_row')
              await q(rows).where({ id: 3 }).increment('balance', 1).catch(() => undefined)
              await q.raw(rollbackTo).catch(() => undefined)
              later = await q(rows).where({ id: 2 }).increment('balance', 1).then(() => 'ran', (error: unknown) => error)
            },
            { lockTimeout: 300 },
          )
          .then(() => 'committed', (error: unknown) => error)
        await holder.rollback()
        return { later, outcome }
      })
    // No such savepoint (3B001): the branch stays rolled back, and the attempt fails with the
    // timeout's ConflictError (retryable), not the server's 25P02 and a COMMIT that fails.
    const failed = await attempt('ROLLBACK TO SAVEPOINT no_such_savepoint')
    expect(failed.later).toBeInstanceOf(ConflictError)
    expect((failed.later as Error).message).toContain('not sent')
    expect(failed.outcome).toBeInstanceOf(ConflictError)
    expect(failed.outcome).toMatchObject({ kind: 'lock timeout', retryable: true })
    // The statement guard lets a leading comment through, and so does this.
    const commented = await attempt('/* undo the hot row */ ROLLBACK TO SAVEPOINT before_hot_row')
    expect(commented).toEqual({ later: 'ran', outcome: 'committed' })
  })
})
