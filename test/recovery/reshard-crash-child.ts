/**
 * A mover process for the resharding crash matrix: it runs `cluster.reshard(target)`
 * and reports the steps of the fenced transactions it runs on stdout
 * (`STEP <phase> <step> <shard>`). The protocol steps come from the cluster's `onStep`;
 * the mover's own steps before the two-phase commit (holding a fence, raising it) and
 * which of a batch's two steps runs (freeze or move) are not reported by the library,
 * so this process watches them with MoverSteps. At the step it was told to pause at,
 * once every step in `after` was seen too, it prints `PAUSED` and waits for its SIGKILL.
 */
import { createCluster, type StepEvent } from '../../src/index.js'
import { MoverSteps } from './mover-steps.js'
import { type BatchPhase, type MoverStep, type ReshardChildPlan, moverStepMatches } from './reshard-crash-plan.js'

const plan = JSON.parse(process.env.SHARDTX_RESHARD_PLAN ?? '') as ReshardChildPlan
const { crash } = plan
const roles = { source: plan.source, destination: plan.destination, log: plan.log }

/** Which fenced step is running: the job's start (before the first progress report), or batch `done`. */
let started = false
let done = -1
let crashBatch = -1
/** The steps of the transaction to crash in: the job's start, or the crash batch's freeze or move. */
const seen: { step: MoverStep['step']; shardId: string | undefined }[] = []
let paused = false

const inTarget = (phase: BatchPhase): boolean => (crash.at === 'start' ? !started : started && done === crashBatch && phase === crash.phase)

async function report(step: MoverStep['step'], shardId: string | undefined): Promise<void> {
  const { phase } = steps
  process.stdout.write(`STEP ${started ? phase : 'start'} ${step} ${shardId ?? '-'}\n`)
  if (!inTarget(phase)) return
  seen.push({ step, shardId })
  const count = (want: MoverStep): number => seen.filter((e) => moverStepMatches(e, want, roles)).length
  const pauseHere = !paused && moverStepMatches({ step, shardId }, crash.pauseAt, roles) && count(crash.pauseAt) === (crash.pauseAt.nth ?? 1)
  if (pauseHere) paused = true
  if (paused && crash.after.every((want) => count(want) > 0)) {
    process.stdout.write('PAUSED\n')
  }
  if (pauseHere) await new Promise(() => {})
}

const steps = new MoverSteps(report)

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
    ...(plan.timeoutMs === undefined ? {} : { timeoutMs: plan.timeoutMs }),
    // No application runs beside this mover: no pauses between batches to leave it windows.
    dutyCycle: 1,
    onProgress: (p) => {
      started = true
      done = p.done
      steps.reset()
    },
  })
  process.stdout.write(`RESULT ${result.state} ${result.done}/${result.total}\n`)
} catch (error) {
  process.stdout.write(`RESULT ${(error as Error).name}: ${(error as Error).message}\n`)
}
await cluster.close()
