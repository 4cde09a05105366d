/**
 * A coordinator process for the crash matrix. It runs one transfer and reports
 * protocol steps on stdout, one line each (`STEP <step> <shard>`); at the step it
 * was told to pause at it prints `PAUSED` and waits forever for its SIGKILL.
 */
import { createCluster, type StepEvent } from '../../src/index.js'
import { type ChildPlan, matches } from './crash-plan.js'

const plan = JSON.parse(process.env.SHARDTX_CRASH_PLAN ?? '') as ChildPlan
const ids = { a: plan.a, b: plan.b }

const cluster = createCluster({
  shards: plan.shards,
  log: plan.log,
  prefix: plan.prefix,
  logTable: plan.logTable,
  recovery: false,
  onStep: async (event: StepEvent) => {
    process.stdout.write(`STEP ${event.step} ${event.shardId ?? '-'}\n`)
    if (matches(event, plan.point.pauseAt, ids)) {
      process.stdout.write('PAUSED\n')
      await new Promise(() => {})
    }
  },
})

try {
  await cluster.transaction(
    async (tx) => {
      process.stdout.write(`TX ${tx.id}\n`)
      await tx.forShard(plan.a)(plan.table).insert({ id: plan.transferId, amount: -1 })
      if (!plan.point.onePhase) await tx.forShard(plan.b)(plan.table).insert({ id: plan.transferId, amount: 1 })
    },
    { timeout: plan.timeoutMs },
  )
  // Forgetting happens off the caller's path: wait for it so a pause there is reached.
  await cluster.close()
  process.stdout.write('RESULT committed\n')
} catch (error) {
  process.stdout.write(`RESULT ${(error as Error).name}: ${(error as Error).message}\n`)
  await cluster.close()
}
