/**
 * A mover process for the resharding crash matrix: it runs `cluster.reshard(target)`
 * and reports the steps of the fenced transaction it was told to crash in on stdout
 * (`STEP <step> <shard>`). The protocol steps come from the cluster's `onStep`; the
 * mover's own steps before the two-phase commit (holding a fence, raising it once the
 * rows are moved) are not reported by the library, so this process wraps the two
 * dialects' `holdInBranch` and `raiseInBranch` to see them. At the step it was told to
 * pause at, once every step in `after` was seen too, it prints `PAUSED` and waits for
 * its SIGKILL.
 */
import { MysqlEpochFence } from '../../adapters/mysql/mysql-fence.js'
import { PostgresEpochFence } from '../../adapters/postgres/postgres-fence.js'
import { createCluster, type StepEvent } from '../../src/index.js'
import { type MoverStep, type ReshardChildPlan, moverStepMatches } from './reshard-crash-plan.js'

const plan = JSON.parse(process.env.SHARDTX_RESHARD_PLAN ?? '') as ReshardChildPlan
const roles = { source: plan.source, destination: plan.destination, log: plan.log }

/** Which fenced step is running: the job's start (before the first progress report), or batch `done`. */
let started = false
let done = -1
let crashBatch = -1
const seen: { step: MoverStep['step']; shardId: string | undefined }[] = []
let paused = false

const inTarget = (): boolean => (plan.crash.at === 'start' ? !started : started && done === crashBatch)

async function report(step: MoverStep['step'], shardId: string | undefined): Promise<void> {
  process.stdout.write(`STEP ${step} ${shardId ?? '-'}\n`)
  if (!inTarget()) return
  seen.push({ step, shardId })
  const count = (want: MoverStep): number => seen.filter((e) => moverStepMatches(e, want, roles)).length
  const pauseHere = !paused && moverStepMatches({ step, shardId }, plan.crash.pauseAt, roles) && count(plan.crash.pauseAt) === (plan.crash.pauseAt.nth ?? 1)
  if (pauseHere) paused = true
  if (paused && plan.crash.after.every((want) => count(want) > 0)) {
    process.stdout.write('PAUSED\n')
  }
  if (pauseHere) await new Promise(() => {})
}

for (const proto of [MysqlEpochFence.prototype, PostgresEpochFence.prototype] as { shardId: string; holdInBranch: Function; raiseInBranch: Function }[]) {
  const hold = proto.holdInBranch
  const raise = proto.raiseInBranch
  proto.holdInBranch = async function (this: { shardId: string }, ...args: unknown[]) {
    await report('hold', this.shardId)
    const blocked = await hold.apply(this, args)
    if (blocked === undefined) await report('held', this.shardId)
    return blocked
  }
  proto.raiseInBranch = async function (this: { shardId: string }, ...args: unknown[]) {
    await report('raise', this.shardId)
    return raise.apply(this, args)
  }
}

const cluster = createCluster({
  shards: plan.shards,
  log: plan.log,
  prefix: plan.prefix,
  logTable: plan.logTable,
  tables: plan.tables,
  recovery: false,
  topology: 'follow',
  onStep: (event: StepEvent) => report(event.step, event.shardId),
})

try {
  // The same data gives the same plan as the job's: find the batch to crash in.
  const dry = await cluster.reshardPlan(plan.target, { batchSize: plan.batchSize })
  const pair = dry.batches.map((b, i) => [b, i] as const).filter(([b]) => b.from === plan.source && b.to === plan.destination)
  crashBatch = (pair.find(([, i]) => i > 0) ?? pair[0])?.[1] ?? -1
  process.stdout.write(`BATCH ${crashBatch} ${dry.batches.length}\n`)
  const result = await cluster.reshard(plan.target, {
    batchSize: plan.batchSize,
    batchTimeoutMs: plan.batchTimeoutMs,
    onProgress: (p) => {
      started = true
      done = p.done
    },
  })
  process.stdout.write(`RESULT ${result.state} ${result.done}/${result.total}\n`)
} catch (error) {
  process.stdout.write(`RESULT ${(error as Error).name}: ${(error as Error).message}\n`)
}
await cluster.close()
