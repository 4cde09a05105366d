import type { Knex } from 'knex'
import type { ShardRing } from '../sharding/index.js'
import { ConfigError } from '../errors.js'
import type { Topology } from '../topology/topology.js'
import { ringAfter, type ReshardPlan } from './reshard-plan.js'
import type { ReshardStore } from './reshard-store.js'

const MAX_RINGS = 4

/**
 * The rings of epochs in the middle of a job, for one process: a job's plan is
 * read once (it never changes), and the last few rings are kept, since every
 * batch makes the processes that touch its shards reload.
 */
export function movingRings(store: ReshardStore, logKnex: () => Knex): (topology: Topology) => Promise<ShardRing> {
  const plans = new Map<string, ReshardPlan>()
  const rings = new Map<string, ShardRing>()
  return async (topology) => {
    const move = topology.move!
    const key = `${move.jobId}:${move.done}`
    const cached = rings.get(key)
    if (cached !== undefined) return cached
    let plan = plans.get(move.jobId)
    if (plan === undefined) {
      const job = await store.get(logKnex(), move.jobId)
      if (job === undefined) throw new ConfigError('log', `the topology at epoch ${topology.epoch} names resharding job ${move.jobId}, which the log shard does not hold`)
      plan = job.plan
      plans.clear()
      plans.set(move.jobId, plan)
    }
    const ring = ringAfter(plan, move.done)
    if (rings.size >= MAX_RINGS) rings.delete(rings.keys().next().value!)
    rings.set(key, ring)
    return ring
  }
}
