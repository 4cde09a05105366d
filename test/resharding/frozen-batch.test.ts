import type { Knex } from 'knex'
import { afterEach, describe, expect, test } from 'vitest'
import { type Cluster, KeyMovingError, StaleTopologyError } from '../../src/index.js'
import { slotInBatch } from '../../src/resharding/reshard-plan.js'
import { ringFor } from '../../src/sharding/ring-cache.js'
import { sharedShards } from '../support/shared-cluster.js'
import { type ReshardBank, startReshardBank } from './reshard-fixture.js'

/**
 * A batch in two steps (docs/resharding.md): between its freeze and its move, the
 * batch's keys are refused by the router and every other key, on the same two
 * shards too, runs as usual. A session outside shardtx holds a row lock on one of
 * the batch's rows at the source, so the move's delete waits there: the batch stays
 * frozen, deterministically, for as long as the test needs.
 */

const banks: ReshardBank[] = []
afterEach(async () => {
  await Promise.all(banks.splice(0).map((b) => b.close()))
})

const ACCOUNTS = 200

interface FrozenSetup {
  bank: ReshardBank
  target: { id: string }[]
  source: string
  destination: string
  /** An account of batch 0, and one on the same source shard outside it. */
  moving: number
  staying: number
}

async function setup(): Promise<FrozenSetup> {
  const pg = sharedShards('postgres')
  const my = sharedShards('mysql')
  const routed = [pg[0]!, my[0]!]
  const every = [pg[0]!, my[0]!, pg[1]!]
  const bank = await startReshardBank(routed, every, ACCOUNTS)
  banks.push(bank)
  const target = [...routed, pg[1]!].map((s) => ({ id: s.id }))
  const plan = await bank.cluster.reshardPlan(target, { batchSize: 20 })
  const batch = plan.batches[0]!
  const before = ringFor(plan.from)
  const after = ringFor(plan.to)
  const ids = [...Array(ACCOUNTS).keys()]
  const moving = ids.find((id) => slotInBatch(batch, before.slotFor(id), before, after))!
  const staying = ids.find((id) => before.shardFor(id) === batch.from && after.shardFor(id) === batch.from)!
  expect(moving).toBeDefined()
  expect(staying).toBeDefined()
  return { bank, target, source: batch.from, destination: batch.to, moving, staying }
}

/** Resolves once the stored topology says batch `index` is frozen. */
async function frozen(cluster: Cluster, index: number): Promise<void> {
  for (;;) {
    if ((await cluster.topology()).move?.moving === index) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function add(cluster: Cluster, table: string, id: number, amount: number): Promise<void> {
  await cluster.transaction(async (tx) => {
    await tx.table(table).where({ id }).increment('balance', amount)
  })
}

/** A transaction outside shardtx on `knex` that holds a row lock on account `id` until released. */
async function holdRow(knex: Knex, table: string, id: number): Promise<{ release(): Promise<void> }> {
  const trx = await knex.transaction()
  await trx(table).where({ id }).forUpdate()
  return { release: () => trx.rollback().then(() => undefined) }
}

describe('a batch in two steps', () => {
  test('while a batch is frozen its keys are refused with a retryable KeyMovingError and other keys on its shards commit', async () => {
    const { bank, target, source, destination, moving, staying } = await setup()
    const other = bank.sibling([...sharedShards('postgres').slice(0, 2), sharedShards('mysql')[0]!], { topology: 'follow' })
    const lock = await holdRow(bank.cluster.forShard(source), bank.accounts, moving)
    const job = bank.cluster.reshard(target, { batchSize: 20, maxBatches: 1, timeoutMs: 60_000 })
    let settled = false
    void job.finally(() => (settled = true)).catch(() => {})
    try {
      await frozen(bank.cluster, 0)
      // Another process: it reloads the topology, refuses the batch's key before sending
      // anything, and commits on the same source shard for a key outside the batch.
      const refused = await add(other, bank.accounts, moving, 5).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(KeyMovingError)
      expect(refused).toBeInstanceOf(StaleTopologyError)
      expect((refused as KeyMovingError).retryable).toBe(true)
      expect((refused as KeyMovingError).code).toBe('KEY_MOVING')
      expect((refused as KeyMovingError).batch).toBe(0)
      await add(other, bank.accounts, staying, 5)
      // A write outside a transaction is refused alike; a read spanning the shards is not.
      await expect(other.table(bank.accounts).where({ id: moving }).increment('balance', 1)).rejects.toBeInstanceOf(KeyMovingError)
      const ids = (await other.table<{ id: number }>(bank.accounts).select('id')).map((r) => Number(r.id))
      expect(new Set(ids).size).toBe(ACCOUNTS)
      expect(ids.length).toBe(ACCOUNTS)
      expect(settled).toBe(false)
    } finally {
      await lock.release()
    }
    const result = await job
    expect(result.done).toBe(1)
    // Once the batch moved, the same write routes to its new owner and commits there.
    await other.transaction(
      async (tx) => {
        await tx.table(bank.accounts).where({ id: moving }).increment('balance', 5)
      },
      { retry: { attempts: 20 } },
    )
    const rows = await bank.allAccounts()
    expect(rows.filter((r) => r.id === moving)).toEqual([{ shardId: destination, id: moving, balance: 105 }])
    expect(rows.filter((r) => r.id === staying)).toEqual([{ shardId: source, id: staying, balance: 105 }])
    expect(rows.length).toBe(ACCOUNTS)
    expect(rows.reduce((sum, r) => sum + r.balance, 0)).toBe(ACCOUNTS * 100 + 10)
  })

  test('cancel unfreezes a frozen batch at once: its move rolls back and its keys route to the source again', async () => {
    const { bank, target, source, moving } = await setup()
    const other = bank.sibling([...sharedShards('postgres').slice(0, 2), sharedShards('mysql')[0]!], { topology: 'follow' })
    const lock = await holdRow(bank.cluster.forShard(source), bank.accounts, moving)
    const job = bank.cluster.reshard(target, { batchSize: 20, maxBatches: 1, timeoutMs: 60_000 })
    try {
      await frozen(bank.cluster, 0)
      await expect(add(other, bank.accounts, moving, 5)).rejects.toBeInstanceOf(KeyMovingError)
      const cancelled = await other.cancelReshard()
      expect(cancelled.state).toBe('cancelled')
      const topology = await other.topology()
      expect(topology.move?.moving).toBeUndefined()
      expect(topology.move?.done).toBe(0)
      // The key routes to the source again, at once. Its row is still locked there (by
      // this test's session, and by the move's delete waiting behind it), so the write
      // goes through once the move, now refused, rolls back.
      expect(await other.shardFor(moving)).toBe(source)
      const write = other.transaction(
        async (tx) => {
          await tx.table(bank.accounts).where({ id: moving }).increment('balance', 5)
        },
        { retry: { attempts: 20 } },
      )
      await lock.release()
      await write
    } finally {
      await lock.release().catch(() => {})
    }
    const result = await job
    expect(result.state).toBe('cancelled')
    expect(result.done).toBe(0)
    const rows = await bank.allAccounts()
    expect(rows.filter((r) => r.id === moving)).toEqual([{ shardId: source, id: moving, balance: 105 }])
    expect(rows.length).toBe(ACCOUNTS)
    expect(rows.reduce((sum, r) => sum + r.balance, 0)).toBe(ACCOUNTS * 100 + 5)
    expect(await bank.cluster.inDoubt()).toEqual([])
  })
})
