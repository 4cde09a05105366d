import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, type ClusterOptions, createCluster, ShardUnavailableError, type Transaction } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { SMALL_BOUNDS } from './fault-matrix.js'
import { rejectionOf } from '../support/server-errors.js'

// A transaction waits for its process to load the stored topology: at first use, and
// after a shard said the process routes by an old epoch. That load reads the log shard
// and, at epoch 1, writes every shard's fence row. An epoch change holds each shard's
// fence on a connection of its own, then raises it. Each case starts a fresh cluster (a
// process that has not loaded yet) with live pooled connections, then black-holes a
// path: those connections stay open and silent. The test's own timeout is what would
// catch a hang; each call's typed outcome is what is asserted.

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
  const setup = createCluster(options())
  try {
    await setup.migrate()
    for (const id of setup.shardIds) await setup.forShard(id).schema.createTable('tl_items', (t) => t.integer('id').primary())
    // Stores the topology at epoch 1 and gives every shard its fence row.
    await setup.transaction((tx) => tx.forShard('my-0')('tl_items').insert({ id: 0 }))
  } finally {
    await setup.close()
  }
}, 120_000)
afterAll(() => local?.destroy())

function options(overrides: Partial<ClusterOptions> = {}): ClusterOptions {
  return { shards: local.shards, log: 'pg-0', ...SMALL_BOUNDS, ...overrides }
}

/** A cluster that has not loaded the topology yet, with a live pooled connection on every shard. */
async function freshCluster(overrides: Partial<ClusterOptions> = {}): Promise<Cluster> {
  const cluster = createCluster(options(overrides))
  await Promise.all(cluster.shardIds.map((id) => cluster.forShard(id).raw('select 1')))
  return cluster
}


let nextId = 1
const insertOn = (shardId: string) => (tx: Transaction) => tx.forShard(shardId)('tl_items').insert({ id: nextId++ })

describe('the load of the stored topology', () => {
  it('with the log shard black-holed: the transaction fails with a retryable ShardUnavailableError naming it, and commits once healed', async () => {
    const cluster = await freshCluster()
    try {
      await local.partition('pg-0', { mode: 'blackhole' })
      // The transaction writes only my-0, which answers: what it waits for is the load.
      const error = await rejectionOf(cluster.transaction(insertOn('my-0')))
      expect(error, String(error)).toBeInstanceOf(ShardUnavailableError)
      expect((error as ShardUnavailableError).shardId).toBe('pg-0')
      expect((error as ShardUnavailableError).retryable).toBe(true)
      await local.heal('pg-0')
      // The silent connection was closed when its statement missed the bound: the next load uses a new one.
      await cluster.transaction(insertOn('my-0'), { retry: { attempts: 3 } })
      expect(cluster.stats().commits.onePhase + cluster.stats().commits.twoPhase).toBe(1)
    } finally {
      await local.heal('pg-0')
      await cluster.close()
    }
  })

  it("is waited for no longer than the transaction's timeout, even when its statements' bound is longer", async () => {
    const cluster = await freshCluster({ timeout: 500, timeouts: { ...SMALL_BOUNDS.timeouts, recovery: 600_000 } })
    try {
      await local.partition('pg-0', { mode: 'blackhole' })
      const error = await rejectionOf(cluster.transaction(insertOn('my-0')))
      expect(error, String(error)).toBeInstanceOf(ShardUnavailableError)
      expect((error as ShardUnavailableError).shardId).toBe('pg-0')
      expect((error as Error).message).toMatch(/did not load within the transaction's timeout \(500 ms\)/)
    } finally {
      // Resets the silent connection the load still waits on, so that close() need not wait out its bound.
      await local.partition('pg-0', { mode: 'reset' })
      await local.heal('pg-0')
      await cluster.close()
    }
  })

  it('with a participant black-holed: its fence row is left for later, and a transaction on the other shard commits', async () => {
    const cluster = await freshCluster()
    try {
      await local.partition('my-0', { mode: 'blackhole' })
      await cluster.transaction(insertOn('pg-0'))
      const error = await rejectionOf(cluster.transaction(insertOn('my-0')))
      expect(error, String(error)).toBeInstanceOf(Error)
      await local.heal('my-0')
      await cluster.transaction(insertOn('my-0'), { retry: { attempts: 3 } })
    } finally {
      await local.heal('my-0')
      await cluster.close()
    }
  })
})

describe('an epoch change', () => {
  const target = [{ id: 'pg-0' }, { id: 'my-0', weight: 2 }]

  /** Black-holes `victim` when the change reaches `step` on it: its pooled connection, used a moment ago, goes silent. */
  const blackHoleAt = (step: 'hold' | 'raise', victim: string) => async (event: { step: string; shardId?: string }) => {
    if (event.step === step && event.shardId === victim) await local.partition(victim, { mode: 'blackhole' })
  }

  it('whose hold on a fence meets a black hole fails with a ShardUnavailableError naming the shard, and raises nothing', async () => {
    const cluster = await freshCluster()
    try {
      const error = await rejectionOf(cluster.setTopology(target, { onStep: blackHoleAt('hold', 'pg-0') }))
      expect(error, String(error)).toBeInstanceOf(ShardUnavailableError)
      expect((error as ShardUnavailableError).shardId).toBe('pg-0')
      await local.partition('pg-0', { mode: 'reset' })
      await local.heal('pg-0')
      const report = await cluster.topology()
      expect(report.epoch).toBe(1)
      expect(report.fences.map((f) => f.epoch)).toEqual([1, 1])
    } finally {
      await local.heal('pg-0')
      await cluster.close()
    }
  })

  it('whose raise meets a black hole fails as incomplete, and running it again once healed finishes it', async () => {
    const cluster = await freshCluster()
    try {
      // my-0 is raised first (id order), then pg-0 goes silent.
      const error = await rejectionOf(cluster.setTopology(target, { onStep: blackHoleAt('raise', 'pg-0') }))
      expect((error as { code?: string }).code, String(error)).toBe('TOPOLOGY_CHANGE_INCOMPLETE')
      await local.partition('pg-0', { mode: 'reset' })
      await local.heal('pg-0')
      const change = await cluster.setTopology(target)
      expect(change.to.epoch).toBe(2)
      const report = await cluster.topology()
      expect(report.epoch).toBe(2)
      expect(report.fences.map((f) => f.epoch)).toEqual([2, 2])
      await cluster.transaction(insertOn('my-0'))
    } finally {
      await local.heal('pg-0')
      await cluster.close()
    }
  })
})

