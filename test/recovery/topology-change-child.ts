/**
 * A topology-change process for the epoch-change crash matrix: it runs one
 * `setTopology` and reports each step on stdout (`STEP <step> <shard>`); at the
 * step it was told to pause at it prints `PAUSED` and waits for its SIGKILL.
 */
import { createCluster, type ShardConfig, type TopologyStepEvent } from '../../src/index.js'

export interface TopologyChildPlan {
  shards: ShardConfig[]
  log: string
  prefix: string
  logTable: string
  target: { id: string; weight?: number }[]
  /** Pause before the n-th step (1-based) of this kind. */
  pauseAt: { step: TopologyStepEvent['step']; nth: number }
}

const plan = JSON.parse(process.env.SHARDTX_TOPOLOGY_PLAN ?? '') as TopologyChildPlan
const cluster = createCluster({ shards: plan.shards, log: plan.log, prefix: plan.prefix, logTable: plan.logTable, recovery: false, topology: 'follow' })
let seen = 0
try {
  await cluster.setTopology(plan.target, {
    onStep: async (event) => {
      process.stdout.write(`STEP ${event.step} ${event.shardId ?? '-'}\n`)
      if (event.step === plan.pauseAt.step && ++seen === plan.pauseAt.nth) {
        process.stdout.write('PAUSED\n')
        await new Promise(() => {})
      }
    },
  })
  process.stdout.write('RESULT changed\n')
} catch (error) {
  process.stdout.write(`RESULT ${(error as Error).name}: ${(error as Error).message}\n`)
}
await cluster.close()
