import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crashChild } from '../helpers/crash-child.js'
import { type Cluster, createCluster, StaleTopologyError } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import type { TopologyChildPlan } from './topology-change-child.js'

const CHILD = fileURLToPath(new URL('./topology-change-child.ts', import.meta.url))
const TABLE = 'accounts'

/** Where the topology change is SIGKILLed: before the n-th step of a kind (4 shards: 4 holds, 4 raises). */
const CRASH_POINTS: { name: string; pauseAt: TopologyChildPlan['pauseAt'] }[] = [
  { name: 'after the claim, before any fence is held', pauseAt: { step: 'hold', nth: 1 } },
  { name: 'holding some fences', pauseAt: { step: 'hold', nth: 3 } },
  { name: 'after raising some fences', pauseAt: { step: 'raise', nth: 3 } },
  { name: 'after raising every fence, before publishing', pauseAt: { step: 'publish', nth: 1 } },
]

let local: LocalCluster
beforeAll(async () => {
  local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
}, 120_000)
afterAll(() => local?.destroy())

/** Runs the change in a child until it pauses, then SIGKILLs it. */
function crashChange(plan: TopologyChildPlan): Promise<{ killed: boolean; lines: string[] }> {
  return crashChild(CHILD, 'SHARDTX_TOPOLOGY_PLAN', plan)
}

describe('crash matrix: a topology change is SIGKILLed at each of its steps', () => {
  it.each(CRASH_POINTS.map((p, i) => [p.name, p, i] as const))('%s: nothing commits under a stale epoch, and running the change again finishes it', async (_, point, i) => {
    const suffix = `${i}_${Math.random().toString(36).slice(2, 6)}`
    const options = { shards: local.shards, log: 'pg-0', prefix: `tc${suffix}_`, logTable: `tlog_${suffix}`, recovery: false } as const
    const app = createCluster(options)
    const clusters: Cluster[] = [app]
    try {
      await app.migrate()
      await Promise.all(
        local.shards.map(async (s) => {
          await app.forShard(s.id).schema.dropTableIfExists(TABLE + suffix)
          await app.forShard(s.id).schema.createTable(TABLE + suffix, (t) => {
            t.integer('id').primary()
            t.integer('balance').notNullable()
          })
          await app.forShard(s.id)(TABLE + suffix).insert({ id: 1, balance: 100 })
        }),
      )
      await app.transaction(async () => {}) // epoch 1
      const target = [{ id: 'pg-0' }, { id: 'pg-1', weight: 2 }, { id: 'my-0' }, { id: 'my-1' }]
      const crashed = await crashChange({ ...options, target, pauseAt: point.pauseAt })
      expect(crashed.killed, crashed.lines.join(' | ')).toBe(true)

      const transfer = (c: Cluster, from: string, to: string, retry = false) =>
        c.transaction(
          async (tx) => {
            await tx.forShard(from)(TABLE + suffix).where({ id: 1 }).decrement('balance', 1)
            await tx.forShard(to)(TABLE + suffix).where({ id: 1 }).increment('balance', 1)
          },
          retry ? { retry: { attempts: 20, backoff: 20 } } : {},
        )
      // The killed change never published: processes still route by epoch 1. A shard it
      // raised refuses them; one it did not still accepts them. Either way, atomically.
      // (Retried: the server may take a moment to end the killed sessions and free the fences.)
      const report = await app.topology()
      expect(report.epoch).toBe(1)
      const raised = report.fences.filter((f) => f.epoch === 2).map((f) => f.shardId)
      for (const [from, to] of [['pg-0', 'my-0'], ['pg-1', 'my-1']] as const) {
        const outcome = await transfer(app, from, to, true).then(
          () => 'committed',
          (error: unknown) => error,
        )
        if (raised.includes(from) || raised.includes(to)) expect(outcome).toBeInstanceOf(StaleTopologyError)
        else expect(outcome).toBe('committed')
      }

      // Run again (its sessions died with it, so nothing holds a fence): it takes the claim over and finishes.
      const again = createCluster({ ...options, topology: 'follow' })
      clusters.push(again)
      const change = await again.setTopology(target, { timeoutMs: 20_000 })
      expect(change.to.epoch).toBe(2)
      const after = await again.topology()
      expect(after.pending).toBeUndefined()
      expect(after.fences.map((f) => f.epoch)).toEqual([2, 2, 2, 2])
      await transfer(app, 'pg-1', 'my-1', true)
      const total = (
        await Promise.all(local.shards.map(async (s) => Number((await app.forShard(s.id)(TABLE + suffix).where({ id: 1 }).first()).balance)))
      ).reduce((a, b) => a + b, 0)
      expect(total).toBe(400)
      expect(await app.inDoubt()).toEqual([])
    } finally {
      await Promise.all(local.shards.map((s) => app.forShard(s.id).schema.dropTableIfExists(TABLE + suffix)))
      await Promise.all(clusters.map((c) => c.close()))
    }
  }, 120_000)
})
