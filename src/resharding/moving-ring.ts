import type { Knex } from 'knex'
import { ConfigError } from '../errors.js'
import type { ShardKey, ShardRing } from '../sharding/index.js'
import { ringFor } from '../sharding/ring-cache.js'
import type { MoveRouting, MovingKeys } from '../topology/routing.js'
import type { Topology } from '../topology/topology.js'
import { ringAfter, ringAfterStep, slotInBatch, type ReshardPlan } from './reshard-plan.js'
import type { ReshardStore } from './reshard-store.js'

const MAX_RINGS = 4

/**
 * How to route at epochs in the middle of a job, for one process: a job's plan is
 * read once (it never changes), and the last few rings are kept, since every
 * batch makes the processes that touch its shards reload; the ring after a batch
 * is made from the one before it. `onLog` runs the plan's read on the log shard in
 * force, with every statement bounded: transactions wait for this load.
 */
export function movingRings(store: ReshardStore, onLog: <T>(read: (knex: Knex) => Promise<T>) => Promise<T>): (topology: Topology) => Promise<MoveRouting> {
  const plans = new Map<string, ReshardPlan>()
  const rings = new Map<string, ShardRing>()
  return async (topology) => {
    const move = topology.move!
    let plan = plans.get(move.jobId)
    if (plan === undefined) {
      const job = await onLog((knex) => store.get(knex, move.jobId))
      if (job === undefined) throw new ConfigError('log', `the topology at epoch ${topology.epoch} names resharding job ${move.jobId}, which the log shard does not hold`)
      plan = job.plan
      plans.clear()
      plans.set(move.jobId, plan)
    }
    // A batch's freeze keeps the ring of the epoch before it: one ring per `done`.
    const key = `${move.jobId}:${move.done}`
    let ring = rings.get(key)
    if (ring === undefined) {
      // After one batch more (or, in a reverse, one less), from the ring before it.
      const done = move.done
      const below = rings.get(`${move.jobId}:${done - 1}`)
      const above = rings.get(`${move.jobId}:${done + 1}`)
      if (below !== undefined) ring = ringAfterStep(plan, below, done - 1, done)
      else if (above !== undefined) ring = ringAfterStep(plan, above, done + 1, done)
      else ring = ringAfter(plan, done)
      if (rings.size >= MAX_RINGS) rings.delete(rings.keys().next().value!)
      rings.set(key, ring)
    }
    return { ring, moving: move.moving === undefined ? undefined : movingKeys(plan, move.moving) }
  }
}

/** The keys of batch `index` of `plan`: its slot range, where the two rings give the slot to its source and destination. */
function movingKeys(plan: ReshardPlan, index: number): MovingKeys {
  const batch = plan.batches[index]
  if (batch === undefined) throw new ConfigError('log', `resharding job ${plan.jobId} has no batch ${index}`)
  const before = ringFor(plan.from)
  const after = ringFor(plan.to)
  return {
    jobId: plan.jobId,
    batch: index,
    has: (key: ShardKey) => slotInBatch(batch, before.slotFor(key), before, after),
  }
}
