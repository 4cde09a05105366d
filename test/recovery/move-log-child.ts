/**
 * A log-moving process for the log-move crash matrix: it runs one `moveLog` and
 * reports each step on stdout (`STEP <step> <shard>`: the move's own steps and the
 * protocol steps of its transaction); at the step it was told to pause at it prints
 * `PAUSED` and waits for its SIGKILL.
 */
import { createCluster, type ShardConfig } from '../../src/index.js'

export interface MoveLogChildPlan {
  shards: ShardConfig[]
  log: string
  prefix: string
  logTable: string
  to: string
  /** Pause before the n-th step (1-based) of this name: `tables`, `move`, or a protocol step of the move's transaction. */
  pauseAt: { step: string; nth: number }
}

const plan = JSON.parse(process.env.SHARDTX_MOVE_LOG_PLAN ?? '') as MoveLogChildPlan
let seen = 0
const pause = async (step: string, shardId: string | undefined): Promise<void> => {
  process.stdout.write(`STEP ${step} ${shardId ?? '-'}\n`)
  if (step === plan.pauseAt.step && ++seen === plan.pauseAt.nth) {
    process.stdout.write('PAUSED\n')
    await new Promise(() => {})
  }
}
const { shards, log, prefix, logTable } = plan
const onStep = (event: { step: string; shardId?: string }): Promise<void> => pause(event.step, event.shardId)
const cluster = createCluster({ shards, log, prefix, logTable, recovery: false, topology: 'follow', onStep })
try {
  // A short transaction timeout: recovery may judge an undecided move abandoned soon after the kill.
  await cluster.moveLog(plan.to, { stepTimeoutMs: 2_000, onStep: (event) => pause(event.step, event.to) })
  process.stdout.write('RESULT moved\n')
} catch (error) {
  process.stdout.write(`RESULT ${(error as Error).name}: ${(error as Error).message}\n`)
}
await cluster.close()
