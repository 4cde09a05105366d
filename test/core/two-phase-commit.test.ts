import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TransactionAbortedError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * Every pairing of dialects, with the log shard inside the transaction (its
 * branch carries the decision and commits one-phase) and outside it.
 */
const CASES = [
  { name: 'PG+PG, log outside', log: 'my-1', a: 'pg-0', b: 'pg-1' },
  { name: 'PG+PG, log inside', log: 'pg-0', a: 'pg-0', b: 'pg-1' },
  { name: 'MySQL+MySQL, log outside', log: 'pg-1', a: 'my-0', b: 'my-1' },
  { name: 'MySQL+MySQL, log inside', log: 'my-0', a: 'my-0', b: 'my-1' },
  { name: 'PG+MySQL, log outside', log: 'pg-1', a: 'pg-0', b: 'my-0' },
  { name: 'PG+MySQL, log inside on PG', log: 'pg-0', a: 'pg-0', b: 'my-0' },
  { name: 'PG+MySQL, log inside on MySQL', log: 'my-0', a: 'pg-0', b: 'my-0' },
] as const

describe.each(CASES)('two-phase commit: $name', ({ log, a, b }) => {
  let t: TestCluster
  let accounts: string

  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), {
      log,
      onStep: (e) => (e.step === 'prepare' ? onPrepare?.(e.shardId!) : undefined),
    })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, [a, b], [
      { id: 1, balance: 100 },
      { id: 2, balance: 100 },
    ])
  })
  afterAll(() => t.close())

  async function total(): Promise<number> {
    const [onA, onB] = await Promise.all([t.balances(accounts, a), t.balances(accounts, b)])
    return [...onA.values(), ...onB.values()].reduce((x, y) => x + y, 0)
  }

  it('commits both branches atomically, through the log', async () => {
    const before = t.cluster.stats().commits.twoPhase
    const result = await t.cluster.transaction(async (tx) => {
      await tx.forShard(a)(accounts).where({ id: 1 }).decrement('balance', 10)
      await tx.forShard(b)(accounts).where({ id: 1 }).increment('balance', 10)
      return tx.id
    })
    expect((await t.balances(accounts, a)).get(1)).toBe(90)
    expect((await t.balances(accounts, b)).get(1)).toBe(110)
    expect(t.cluster.stats().commits.twoPhase).toBe(before + 1)
    const steps = t.steps.filter((s) => s.txId === result).map((s) => s.step)
    expect(steps).toContain('decided')
    // The log shard's own branch is never prepared: its commit carries the decision.
    const prepared = t.steps.filter((s) => s.txId === result && s.step === 'prepared').map((s) => s.shardId)
    expect(prepared.sort()).toEqual([a, b].filter((id) => id !== log).sort())
    expect(await t.preparedBranches()).toEqual([])
  })

  it('rolls back every branch and rethrows the callback error unchanged', async () => {
    const boom = new Error('boom')
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard(a)(accounts).where({ id: 2 }).decrement('balance', 50)
        await tx.forShard(b)(accounts).where({ id: 2 }).increment('balance', 50)
        throw boom
      })
      .catch((e: unknown) => e)
    expect(error).toBe(boom)
    expect((await t.balances(accounts, a)).get(2)).toBe(100)
    expect((await t.balances(accounts, b)).get(2)).toBe(100)
    expect(await t.preparedBranches()).toEqual([])
  })

  it('rolls back all branches when one branch fails at PREPARE', async () => {
    const totalBefore = await total()
    // The connection of the branch is terminated just before its prepare (or, for the
    // log shard, its decision), so that step fails on a branch that did all its work.
    const victim = b === log ? a : b
    let victimSession = ''
    const killer = await startTestCluster(sharedShards(), { log })
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard(a)(accounts).where({ id: 1 }).decrement('balance', 7)
        await tx.forShard(b)(accounts).where({ id: 1 }).increment('balance', 7)
        victimSession = await sessionId(tx.forShard(victim), victim)
        onPrepare = async (shardId) => {
          if (shardId === victim) await terminate(killer, victim, victimSession)
        }
      })
      .catch((e: unknown) => e)
      .finally(() => {
        onPrepare = undefined
      })
    await killer.close()
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect(await total()).toBe(totalBefore)
    expect(await t.preparedBranches()).toEqual([])
  })
})

/** Set by a test to act when a branch is about to be prepared. */
let onPrepare: ((shardId: string) => Promise<void>) | undefined

async function sessionId(knex: import('knex').Knex, shardId: string): Promise<string> {
  const sql = shardId.startsWith('pg') ? 'select pg_backend_pid() as id' : 'select connection_id() as id'
  const result = await knex.raw(sql)
  const rows = shardId.startsWith('pg') ? result.rows : result[0]
  return String(rows[0].id)
}

async function terminate(t: TestCluster, shardId: string, session: string): Promise<void> {
  const knex = t.cluster.forShard(shardId)
  if (shardId.startsWith('pg')) await knex.raw('select pg_terminate_backend(?)', [Number(session)])
  else await knex.raw(`kill connection ${Number(session)}`)
}

describe('two-phase commit: a deferred constraint that fails at PREPARE', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'my-0' })
  })
  afterAll(() => t.close())

  it('rolls back the MySQL branch too', async () => {
    const unique = t.table('deferred')
    const accounts = t.table('accounts')
    const pg = t.cluster.forShard('pg-0')
    await pg.raw(`create table ${unique} (id int, constraint ${unique}_u unique (id) deferrable initially deferred)`)
    await t.createAccounts(accounts, ['my-1'], [{ id: 1, balance: 100 }])
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard('my-1')(accounts).where({ id: 1 }).decrement('balance', 10)
        // Both inserts succeed: the unique check is deferred to PREPARE TRANSACTION.
        await tx.forShard('pg-0')(unique).insert([{ id: 1 }, { id: 1 }])
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect(String((error as Error).cause)).toMatch(/unique|duplicate/i)
    expect((await t.balances(accounts, 'my-1')).get(1)).toBe(100)
    expect(await pg(unique).count({ n: '*' })).toEqual([{ n: '0' }])
    expect(await t.preparedBranches()).toEqual([])
    await pg.schema.dropTable(unique)
  })
})
