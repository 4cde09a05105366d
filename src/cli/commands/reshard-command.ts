import type { Cluster } from '../../cluster.js'
import type { ReshardPlanReport } from '../../resharding/plan-reshard.js'
import type { ReshardOptions } from '../../resharding/reshard-options.js'
import type { ReshardProgress } from '../../resharding/reshard-progress.js'
import type { CliOutput } from '../cli-output.js'
import type { Command, CommandContext } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { rethrowExplained } from '../failure-exit.js'
import { openTargetCluster } from '../target-cluster.js'
import { textTable } from '../text-table.js'
import { stoppableByCtrlC } from './ctrl-c.js'
import { ReshardProgressView } from './reshard-progress-view.js'
import { verifyCommand } from './reshard-verify.js'

/**
 * `shardtx reshard plan | start | status | verify | cancel | reverse`: the
 * resharding job of `cluster.reshard()` from the shell. `plan` and `start` take
 * the target as `--to <config>` and connect to the shards of both configs, as
 * `topology set` does; `verify` and `reverse` take `--to` for the connections
 * the `--config` lacks. `start` and `reverse` stop at a batch boundary on Ctrl-C
 * (exit 130), the job left resumable; `verify` reads page by page and stops at a
 * page boundary, resumable from its `--save` file (reshard-verify.ts).
 */
export const reshardCommand: Command = async (context) => {
  const verb = context.args.positionals[0] as keyof typeof VERBS
  return VERBS[verb](context)
}

const VERBS = {
  plan: planJob,
  start: startJob,
  status: showStatus,
  verify,
  cancel: cancelJob,
  reverse: reverseJob,
}

async function planJob(context: CommandContext): Promise<ExitCode> {
  const { args, out } = context
  return withTargetCluster(context, async (cluster, target) => {
    out.progress(`planning a job to ${target.map((s) => s.id).join(', ')} (counting the rows that move)…`)
    const plan = await cluster.reshardPlan(target, args.batchSize === undefined ? {} : { batchSize: args.batchSize })
    out.result({ plan }, () => planText(plan, args.batchSize))
    return plan.problems.length > 0 ? ExitCode.Failed : ExitCode.Ok
  })
}

async function startJob(context: CommandContext): Promise<ExitCode> {
  const { args, out } = context
  return withTargetCluster(context, async (cluster, target) => {
    const latest = await cluster.reshardStatus()
    if (latest !== undefined && latest.state !== 'done' && latest.state !== 'reversed') {
      out.progress(`resuming job ${latest.jobId} (${latest.state}) at batch ${latest.done}/${latest.total}…`)
      // Its batches were fixed when it started; a new size would silently change nothing.
      if (args.batchSize !== undefined) out.problem(`warning: --batch-size does not change the batches of job ${latest.jobId}, planned when it started`)
    } else {
      out.progress(`starting a resharding job to ${target.map((s) => s.id).join(', ')}…`)
    }
    return runMover(context, 'forward', (options) => cluster.reshard(target, { ...options, ...(args.batchSize === undefined ? {} : { batchSize: args.batchSize }) }))
  })
}

async function reverseJob(context: CommandContext): Promise<ExitCode> {
  return withTargetCluster(context, async (cluster) => {
    context.out.progress('moving the done batches of the latest job back…')
    return runMover(context, 'back', (options) => cluster.reverseReshard(options))
  })
}

async function showStatus({ cluster, out }: CommandContext): Promise<ExitCode> {
  const job = await cluster.reshardStatus()
  out.result({ job: job ?? null }, () => (job === undefined ? 'no resharding job' : jobText(job)))
  return ExitCode.Ok
}

async function cancelJob({ cluster, out }: CommandContext): Promise<ExitCode> {
  const job = await cluster.cancelReshard()
  out.result({ job }, () => jobText(job))
  if (job.state === 'cancelled') {
    out.progress(`cancelled: a mover stops at its next batch boundary; resume with reshard start --to <config>, or move the done batches back with reshard reverse`)
    return ExitCode.Ok
  }
  out.problem(`error: job ${job.jobId} is ${job.state}: nothing to cancel`)
  return ExitCode.Failed
}

async function verify(context: CommandContext): Promise<ExitCode> {
  return withTargetCluster(context, (cluster) => verifyCommand(context, cluster))
}

/**
 * Runs `work` on the cluster over `--config` and `--to`, and explains a failure
 * by an unreachable shard (exit 3) when one of them no longer answers.
 */
async function withTargetCluster(
  context: CommandContext,
  work: (cluster: Cluster, target: Awaited<ReturnType<typeof openTargetCluster>>['target']) => Promise<ExitCode>,
): Promise<ExitCode> {
  const { cluster, target, close } = await openTargetCluster(context)
  try {
    return await work(cluster, target)
  } catch (error) {
    // Awaited here: a rejection left pending while `close()` runs would count as unhandled.
    return await rethrowExplained(cluster, cluster.shardIds, error)
  } finally {
    await close()
  }
}

type MoverOptions = Pick<ReshardOptions, 'dutyCycle' | 'maxBatches' | 'onProgress' | 'signal'>

/**
 * Runs a mover (`start` or `reverse`) with progress shown and Ctrl-C turned into
 * the AbortSignal, which the mover checks between batches: the batch in flight
 * commits, the job stays where it got to. A second Ctrl-C quits at once.
 */
async function runMover(context: CommandContext, direction: 'forward' | 'back', run: (options: MoverOptions) => Promise<ReshardProgress>): Promise<ExitCode> {
  const { args, out } = context
  const view = new ReshardProgressView(out)
  const { result: job, interrupted } = await stoppableByCtrlC(
    out,
    {
      first: 'interrupted: stopping at the next batch boundary, the job stays resumable (Ctrl-C again to quit at once)',
      again: 'interrupted again: quitting now; a batch in flight is settled by recovery (shardtx recover)',
    },
    (signal) =>
      run({
        ...(args.dutyCycle === undefined ? {} : { dutyCycle: args.dutyCycle }),
        ...(args.maxBatches === undefined ? {} : { maxBatches: args.maxBatches }),
        onProgress: (p) => view.update(p),
        signal,
      }),
  )
  view.finish()
  const stopped = stopReason(job, direction, interrupted, args.maxBatches !== undefined)
  out.result({ event: 'result', stopped, job }, () => outcomeText(job, stopped, direction))
  return finalCode(stopped, out)
}

type StopReason = 'done' | 'interrupted' | 'max-batches' | 'changed'

function stopReason(job: ReshardProgress, direction: 'forward' | 'back', interrupted: boolean, limited: boolean): StopReason {
  if (job.state === (direction === 'forward' ? 'done' : 'reversed')) return 'done'
  if (interrupted) return 'interrupted'
  if (limited && job.state === (direction === 'forward' ? 'running' : 'reversing')) return 'max-batches'
  return 'changed'
}

function finalCode(stopped: StopReason, out: CliOutput): ExitCode {
  if (stopped === 'done' || stopped === 'max-batches') return ExitCode.Ok
  if (stopped === 'interrupted') return ExitCode.Interrupted
  out.problem('error: the job was changed by another process (cancelled, or reversed) and this mover stopped')
  return ExitCode.Failed
}

function outcomeText(job: ReshardProgress, stopped: StopReason, direction: 'forward' | 'back'): string {
  const at = `batch ${job.done}/${job.total}`
  const again = direction === 'forward' ? 'reshard start --to <config>' : 'reshard reverse'
  switch (stopped) {
    case 'done':
      return direction === 'forward'
        ? `job ${job.jobId} done: ${job.total} batches, ${job.rowsMoved} rows moved; the topology is ${job.to.join(', ')}`
        : `job ${job.jobId} reversed: ${job.rowsMoved} rows moved in all; the topology is ${job.from.join(', ')} again`
    case 'interrupted':
      return `job ${job.jobId} interrupted at ${at}, still ${job.state}: resume with ${again}${direction === 'forward' ? ', or cancel and reverse it' : ''}`
    case 'max-batches':
      return `job ${job.jobId} stopped after --max-batches at ${at}, still ${job.state}: go on with ${again}`
    case 'changed':
      return `job ${job.jobId} is ${job.state} at ${at}`
  }
}

function jobText(job: ReshardProgress): string {
  return [
    // A finished job has nothing left (a reversed job's rowsLeft counts its whole plan again).
    `job ${job.jobId}: ${job.state}, batch ${job.done}/${job.total}, ${job.rowsMoved} rows moved${job.state === 'done' || job.state === 'reversed' ? '' : `, ${job.rowsLeft} rows left`}`,
    `from  ${job.from.join(', ')}`,
    `to    ${job.to.join(', ')}`,
  ].join('\n')
}

function planText(plan: ReshardPlanReport, batchSize: number | undefined): string {
  const moving = plan.rows.reduce((sum, r) => sum + r.rows, 0)
  const lines = [
    `from  ${plan.from.map(shardText).join(', ')}`,
    `to    ${plan.to.map(shardText).join(', ')}`,
    `added: ${plan.added.join(', ') || '-'}; removed: ${plan.removed.join(', ') || '-'}`,
    `slots moving: ${plan.slotsMoving}`,
    `rows moving: ${moving}`,
  ]
  if (plan.rows.length > 0) lines.push('', textTable(['TABLE', 'FROM', 'TO', 'ROWS'], plan.rows.map((r) => [r.table, r.from, r.to, String(r.rows)])), '')
  lines.push(`batches: ${plan.batches.length}${batchSize === undefined ? '' : ` of up to ${batchSize} rows`}`)
  if (plan.added.length > 0) lines.push(`reference tables are copied to ${plan.added.join(', ')} before it takes any slot`)
  lines.push(plan.problems.length === 0 ? 'problems: none' : `problems (the job is refused until they are fixed):\n${plan.problems.map((p) => `  ${p}`).join('\n')}`)
  if (plan.warnings.length > 0) lines.push(`warnings (the job may run; some rows may not fit):\n${plan.warnings.map((w) => `  ${w}`).join('\n')}`)
  return lines.join('\n')
}

function shardText(shard: { id: string; weight: number }): string {
  return shard.weight === 1 ? shard.id : `${shard.id} (weight ${shard.weight})`
}
