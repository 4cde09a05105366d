import { randomBytes } from 'node:crypto'
import { ConfigError, isRetryable } from '../errors.js'
import { ringFor } from '../sharding/ring-cache.js'
import { diffTopology, isSameTopology } from '../topology/topology-diff.js'
import { resolveTarget, type TopologyTarget } from '../topology/set-topology.js'
import type { Topology, TopologyMove, TopologyShard } from '../topology/topology.js'
import { isStale } from '../topology/with-topology.js'
import { type FencedStepBounds, insertTopology, runFencedStep, StepOvertaken } from './fenced-step.js'
import { copyTable, keysInSlots, moveRows, type ShardedTable } from './move-rows.js'
import { type PlanReads, planReshard, refuseProblems, type ReshardPlanReport } from './plan-reshard.js'
import { onLog, onShard, type ReshardContext } from './reshard-context.js'
import type { ResolvedReshardOptions } from './reshard-options.js'
import { slotInBatch } from './reshard-plan.js'
import { progressOf, type ReshardProgress } from './reshard-progress.js'
import type { ReshardJob, ReshardState } from './reshard-store.js'

export function shardedTables(ctx: ReshardContext): ShardedTable[] {
  return [...ctx.config.tables.values()].filter((t): t is ShardedTable => t.kind === 'sharded')
}

function referenceTables(ctx: ReshardContext): string[] {
  return [...ctx.config.tables.values()].filter((t) => t.kind === 'reference').map((t) => t.name)
}

/** How a plan reads the shards: each statement bounded by `statementMs` (a key scan of a large table included). */
function planReads(ctx: ReshardContext, statementMs: number): PlanReads {
  return { participants: ctx.participants, statementMs, shapeOf: ctx.shapeOf }
}

/** The dry run: what `reshard(target)` would move, and what stops it. Writes nothing. */
export async function planFor(ctx: ReshardContext, target: TopologyTarget, batchSize: number, statementMs: number): Promise<ReshardPlanReport> {
  const current = (await ctx.state.reload()).topology
  if (current.move !== undefined) throw jobInProgress(current.move.jobId)
  const to = resolveTarget(ctx, target, current.logShardId)
  return planReshard(planReads(ctx, statementMs), shardedTables(ctx), referenceTables(ctx), current.shards, to, batchSize)
}

/**
 * Starts a job towards `target`, or resumes the one in progress towards the same
 * target, and moves batches until it is done, `maxBatches` ran, or the signal
 * stops it at a batch boundary. Resolves with where the job stands.
 */
export async function reshard(ctx: ReshardContext, target: TopologyTarget, options: ResolvedReshardOptions): Promise<ReshardProgress> {
  const current = (await ctx.state.reload()).topology
  const to = resolveTarget(ctx, target, current.logShardId)
  let job: ReshardJob
  if (current.move !== undefined) {
    const { jobId } = current.move
    job = (await onLog(ctx, (log) => ctx.store.get(log, jobId)))!
    if (!isSameTopology(diffTopology(job.plan.to, to))) {
      throw new ConfigError('reshard', `job ${job.id} is moving rows to ${describeSet(job.plan.to)}; finish it (same target), or cancel and reverse it first`)
    }
    if (job.state === 'cancelled' || job.state === 'reversing') {
      const from = job.state
      await onLog(ctx, (log) => ctx.store.setState(log, jobId, [from], 'running'))
      job = (await onLog(ctx, (log) => ctx.store.get(log, jobId)))!
    }
  } else {
    if (isSameTopology(diffTopology(current.shards, to))) throw new ConfigError('reshard', `the topology already routes by ${describeSet(to)}`)
    try {
      job = await start(ctx, current, to, options)
    } catch (error) {
      // Another process started a job at the same moment and its first step overtook this
      // one (stale fences, or its epoch published first): join that job, as a later call
      // would. Once: the topology now has a job, so the call below does not start one.
      if (!(error instanceof StepOvertaken || isRetryable(error))) throw error
      const now = await ctx.state.reload().catch(() => undefined)
      if (now?.topology.move === undefined) throw error
      return reshard(ctx, target, options)
    }
  }
  return moveBatches(ctx, job, 'forward', options)
}

/** Moves the done batches of the job in progress back, then routes by the set before it. */
export async function reverse(ctx: ReshardContext, options: ResolvedReshardOptions): Promise<ReshardProgress> {
  const current = (await ctx.state.reload()).topology
  const latest = await onLog(ctx, (log) => ctx.store.latest(log))
  if (latest === undefined) throw new ConfigError('reshard', 'no resharding job to reverse')
  let job: ReshardJob = latest
  const jobId = latest.id
  if (current.move === undefined || current.move.jobId !== job.id) {
    if (job.state !== 'done' || !isSameTopology(diffTopology(current.shards, job.plan.to))) {
      throw new ConfigError('reshard', `job ${job.id} is ${job.state} and the topology has moved on since; nothing to reverse`)
    }
    // A finished job: route by the same ring, now as "all batches done", then move them back.
    await reopen(ctx, current, job)
    job = (await onLog(ctx, (log) => ctx.store.get(log, jobId)))!
  }
  if (job.state !== 'reversing' && !(await onLog(ctx, (log) => ctx.store.setState(log, jobId, ['running', 'cancelled'], 'reversing')))) {
    job = (await onLog(ctx, (log) => ctx.store.get(log, jobId)))!
    if (job.state !== 'reversing') throw new ConfigError('reshard', `job ${job.id} is ${job.state}; nothing to reverse`)
  }
  job = (await onLog(ctx, (log) => ctx.store.get(log, jobId)))!
  return moveBatches(ctx, job, 'back', options)
}

/**
 * Stops a running job at its next batch boundary (routing stays as it is: valid,
 * resumable, reversible). A batch left frozen (its mover gone, or its move now
 * refused by the state change) is unfrozen, so no key stays refused.
 */
export async function cancel(ctx: ReshardContext): Promise<ReshardProgress> {
  const job = await onLog(ctx, (log) => ctx.store.latest(log))
  if (job === undefined) throw new ConfigError('reshard', 'no resharding job to cancel')
  await onLog(ctx, (log) => ctx.store.setState(log, job.id, ['running', 'reversing'], 'cancelled'))
  // A freeze compares-and-sets the job's row, so one that committed before the state
  // change is visible now, and none can commit after it.
  await unfreezeLeftOver(ctx, job.id)
  return progressOf((await onLog(ctx, (log) => ctx.store.get(log, job.id)))!)
}

export async function status(ctx: ReshardContext): Promise<ReshardProgress | undefined> {
  const job = await onLog(ctx, (log) => ctx.store.latest(log))
  return job === undefined ? undefined : progressOf(job)
}

/**
 * The job's first step, one transaction over every shard of both sets: hold every
 * fence, copy the reference tables to the added shards, store the job, publish
 * the first epoch of the move (no batch done yet) and raise every fence to it. A
 * process still at the epoch before is refused by every shard, so no reference
 * write can miss an added shard.
 */
async function start(ctx: ReshardContext, current: Topology, to: TopologyShard[], options: ResolvedReshardOptions): Promise<ReshardJob> {
  const plan = await planReshard(planReads(ctx, options.batchTimeoutMs), shardedTables(ctx), referenceTables(ctx), current.shards, to, options.batchSize)
  refuseProblems(plan.problems)
  const pending = await onLog(ctx, () => ctx.topologyStore.pending(current.epoch))
  if (pending !== undefined) {
    throw new ConfigError('reshard', `a topology change to epoch ${pending.epoch} was claimed and not published: run setTopology() to finish it first`)
  }
  const id = randomBytes(8).toString('hex')
  const now = Date.now()
  const job: ReshardJob = {
    id,
    state: plan.batches.length === 0 ? 'done' : 'running',
    fromEpoch: current.epoch,
    plan: { jobId: id, from: current.shards, to, batches: plan.batches },
    done: 0,
    total: plan.batches.length,
    rowsMoved: 0,
    createdAt: now,
    updatedAt: now,
  }
  const involved = [...new Set([...current.shards, ...to].map((s) => s.id))].sort()
  for (const shardId of involved) {
    await onShard(ctx, shardId, 'could not give the shard its fence row', () => ctx.fences.get(shardId)!.bootstrap(0, current.logShardId))
  }
  // A plan with no batch publishes the target set at once; otherwise the first epoch of the move.
  const move = job.total === 0 ? undefined : { jobId: id, done: 0, total: job.total, from: current.shards }
  const next: Topology = { epoch: current.epoch + 1, shards: to, logShardId: current.logShardId, ...(move === undefined ? {} : { move }) }
  await runFencedStep(
    ctx,
    {
      shards: involved,
      next,
      claimedBy: id,
      work: async (tx) => {
        const log = tx.forShard(ctx.state.logShardId)
        for (const shardId of plan.added) {
          for (const name of referenceTables(ctx)) await copyTable(log, tx.forShard(shardId), name)
        }
        await ctx.store.insert(log, job)
      },
    },
    bounds(options),
  )
  ctx.state.invalidate()
  ctx.logger.info({ jobId: id, batches: job.total, from: current.epoch, to: next.epoch }, 'resharding job started')
  return job
}

/** Publishes "every batch done" for a finished job (the same ring, so no fence changes), so it can be moved back. */
async function reopen(ctx: ReshardContext, current: Topology, job: ReshardJob): Promise<void> {
  const next: Topology = {
    epoch: current.epoch + 1,
    shards: current.shards,
    logShardId: current.logShardId,
    move: { jobId: job.id, done: job.total, total: job.total, from: job.plan.from },
  }
  await ctx.transaction(
    async (tx) => {
      const log = tx.forShard(ctx.state.logShardId)
      if (!(await ctx.store.advance(log, job.id, { state: 'done', done: job.total }, { state: 'reversing', done: job.total, rowsMoved: 0 }))) {
        throw new StepOvertaken(`job ${job.id} changed meanwhile`)
      }
      await insertTopology(log, ctx.topologyTable, next, job.id)
    },
    { timeout: 30_000 },
  )
  ctx.state.invalidate()
}

/**
 * The mover's loop: one batch per fenced step, forward (`done` up) or back
 * (`done` down), until the end, a state change by `cancel`, `maxBatches`, or the signal.
 */
async function moveBatches(ctx: ReshardContext, first: ReshardJob, direction: 'forward' | 'back', options: ResolvedReshardOptions): Promise<ReshardProgress> {
  const startedAt = performance.now()
  let moved = 0
  let job = first
  const report = (): ReshardProgress => progressOf(job, { rows: moved, elapsedMs: performance.now() - startedAt })
  options.onProgress?.(report())
  const expectedState: ReshardState = direction === 'forward' ? 'running' : 'reversing'
  for (let ran = 0; ran < options.maxBatches; ran++) {
    if (options.signal?.aborted === true) break
    if (job.state !== expectedState) break
    if (direction === 'forward' ? job.done >= job.total : job.done <= 0) break
    const began = performance.now()
    try {
      moved += await runBatch(ctx, job, direction, options)
    } catch (error) {
      if (!(error instanceof StepOvertaken) && !isStale(error)) throw error
    }
    ctx.state.invalidate()
    job = (await onLog(ctx, (log) => ctx.store.get(log, job.id)))!
    options.onProgress?.(report())
    const pause = (performance.now() - began) * (1 / options.dutyCycle - 1)
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
  }
  // Route by where the job stopped, as setTopology() leaves its process routing by the
  // epoch it published: otherwise shardFor() would answer by the ring before the last batch.
  // A batch still frozen now is one this run will not move (a cancel or a reverse found it
  // frozen, with nothing left to move this way): unfreeze it, or its keys stay refused.
  await unfreezeLeftOver(ctx, job.id)
  return report()
}

/**
 * A batch frozen past its `frozenUntil` (its mover died between the freeze and the
 * move, or gave up without unfreezing) is unfrozen. Run by background recovery, in
 * every process that routes by such an epoch. Only liveness depends on the clock:
 * an unfreeze is safe at any time (see {@link unfreeze}).
 */
export async function unfreezeExpired(ctx: ReshardContext): Promise<boolean> {
  const expired = (move: TopologyMove | undefined): move is TopologyMove => move?.moving !== undefined && (move.frozenUntil ?? Infinity) <= Date.now()
  // What this process routes by first (no query at all without a move), then what is stored.
  if (!expired(ctx.state.current.topology.move)) return false
  const { topology } = await ctx.state.reload()
  const move = topology.move
  if (!expired(move)) return false
  ctx.logger.warn({ jobId: move.jobId, batch: move.moving, epoch: topology.epoch }, 'a resharding batch stayed frozen past its mover\'s deadline; unfreezing it')
  await unfreeze(ctx, topology)
  return true
}

/**
 * One batch, in two fenced steps (docs/resharding.md, "A batch in two steps"):
 * freeze its slots (routers refuse their keys; the source refuses older epochs),
 * then move their rows while the application runs on every other key, and
 * publish the next epoch with the fences of both shards held only for the commit.
 * A batch that another run left frozen is moved on from where it stands.
 */
async function runBatch(ctx: ReshardContext, job: ReshardJob, direction: 'forward' | 'back', options: ResolvedReshardOptions): Promise<number> {
  let routing = await ctx.state.reload()
  const index = direction === 'forward' ? job.done : job.done - 1
  const atBatch = (topology: Topology): boolean => topology.move !== undefined && topology.move.jobId === job.id && topology.move.done === job.done
  if (!atBatch(routing.topology)) throw new StepOvertaken(`the topology is not at batch ${job.done} of job ${job.id}`)
  if (routing.topology.move!.moving !== undefined && routing.topology.move!.moving !== index) {
    await unfreeze(ctx, routing.topology)
    routing = await ctx.state.reload()
  }
  if (routing.topology.move?.moving === undefined) {
    await freeze(ctx, routing.topology, job, index, direction, options)
    routing = await ctx.state.reload()
  }
  if (!atBatch(routing.topology) || routing.topology.move!.moving !== index) throw new StepOvertaken(`batch ${index} of job ${job.id} is not frozen`)
  try {
    return await moveFrozen(ctx, routing.topology, job, index, direction, options)
  } catch (error) {
    // Whatever stopped the move (a fence held past timeoutMs, a shard down), its keys must not
    // stay refused: publish the batch unfrozen. A move that did commit has already moved on.
    await unfreeze(ctx, routing.topology).catch((e: unknown) => ctx.logger.warn({ jobId: job.id, batch: index, err: e }, 'could not unfreeze a batch whose move failed'))
    throw error
  }
}

function sourceAndDestination(job: ReshardJob, index: number, direction: 'forward' | 'back'): [string, string] {
  const batch = job.plan.batches[index]!
  return direction === 'forward' ? [batch.from, batch.to] : [batch.to, batch.from]
}

/**
 * The first step of a batch: publish the same routing with the batch frozen, then
 * hold the source's fence (every branch on it under an older epoch finishes first)
 * and raise it to the new epoch. The job's row is compared-and-set unchanged, so a
 * cancel that committed first makes this step fail, and one that comes after sees it.
 * The destination's fence stays: no router of any epoch sends it the batch's keys.
 */
async function freeze(ctx: ReshardContext, current: Topology, job: ReshardJob, index: number, direction: 'forward' | 'back', options: ResolvedReshardOptions): Promise<void> {
  const [source] = sourceAndDestination(job, index, direction)
  // The longest a live mover spends on the move: its fence holds retried until timeoutMs, its transaction bounded by batchTimeoutMs.
  const frozenUntil = Date.now() + options.timeoutMs + options.batchTimeoutMs
  const next: Topology = { ...current, epoch: current.epoch + 1, move: { ...current.move!, moving: index, frozenUntil } }
  await runFencedStep(
    ctx,
    {
      shards: [source],
      // Held last, after the job's compare-and-set and the topology row: only for the raise and the commit.
      hold: 'end',
      next,
      claimedBy: job.id,
      work: async (tx) => {
        const unchanged = { state: job.state, done: job.done }
        if (!(await ctx.store.advance(tx.forShard(ctx.state.logShardId), job.id, unchanged, { ...unchanged, rowsMoved: 0 }))) {
          throw new StepOvertaken(`job ${job.id} is no longer ${job.state} at batch ${job.done}`)
        }
      },
    },
    bounds(options),
  )
}

/**
 * The second step: the frozen batch's rows from the source to the destination,
 * the job's `done` advanced by a compare-and-set, the next epoch published and
 * both shards' fences raised, in one two-phase transaction over the two shards
 * and the log shard. The rows move beside the application's branches (nobody
 * routes to them); the fences are held only from the end of the copy to the
 * commit, so no branch on either shard sees one side committed and not the other.
 */
async function moveFrozen(ctx: ReshardContext, frozen: Topology, job: ReshardJob, index: number, direction: 'forward' | 'back', options: ResolvedReshardOptions): Promise<number> {
  const batch = job.plan.batches[index]!
  const [source, destination] = sourceAndDestination(job, index, direction)
  const nextDone = direction === 'forward' ? job.done + 1 : job.done - 1
  const finished = direction === 'forward' ? nextDone === job.total : nextDone === 0
  const epoch = frozen.epoch + 1
  const next: Topology = finished
    ? { epoch, shards: direction === 'forward' ? job.plan.to : job.plan.from, logShardId: frozen.logShardId }
    : { epoch, shards: job.plan.to, logShardId: frozen.logShardId, move: { jobId: job.id, done: nextDone, total: job.total, from: job.plan.from } }
  const before = ringFor(job.plan.from)
  const after = ringFor(job.plan.to)
  const nextState: ReshardState = finished ? (direction === 'forward' ? 'done' : 'reversed') : job.state
  return runFencedStep(
    ctx,
    {
      shards: [source, destination],
      hold: 'end',
      next,
      claimedBy: job.id,
      work: async (tx) => {
        let rows = 0
        for (const table of shardedTables(ctx)) {
          const keys = await keysInSlots(tx.forShard(source), table, before, (slot) => slotInBatch(batch, slot, before, after))
          rows += await moveRows(tx.forShard(source), tx.forShard(destination), table, keys)
        }
        const advanced = await ctx.store.advance(
          tx.forShard(ctx.state.logShardId),
          job.id,
          { state: job.state, done: job.done },
          { state: nextState, done: nextDone, rowsMoved: rows },
        )
        if (!advanced) throw new StepOvertaken(`job ${job.id} is no longer ${job.state} at batch ${job.done}`)
        return rows
      },
    },
    bounds(options),
  )
}

/** Reloads the stored topology and unfreezes job `jobId`'s batch if one is still frozen there. */
async function unfreezeLeftOver(ctx: ReshardContext, jobId: string): Promise<void> {
  const { topology } = await ctx.state.reload()
  if (topology.move?.jobId === jobId && topology.move.moving !== undefined) await unfreeze(ctx, topology)
}

/**
 * Publishes the routing of `frozen` with no batch frozen: its keys route to the
 * source again. No fence changes: a router still at the frozen epoch only refuses
 * more keys. It takes the same epoch number a move of the batch would, so the
 * topology's primary key lets exactly one of them publish; a move that loses
 * rolls back, its rows still on the source. Resolves once the topology has moved
 * past `frozen`, by this call or another.
 */
export async function unfreeze(ctx: ReshardContext, frozen: Topology): Promise<void> {
  const { moving: _moving, frozenUntil: _until, ...move } = frozen.move!
  const next: Topology = { ...frozen, epoch: frozen.epoch + 1, move }
  try {
    await ctx.transaction((tx) => insertTopology(tx.forShard(ctx.state.logShardId), ctx.topologyTable, next, move.jobId), { timeout: 30_000 })
  } catch (error) {
    ctx.state.invalidate()
    if ((await ctx.state.reload()).epoch > frozen.epoch) return
    throw error
  }
  ctx.state.invalidate()
  ctx.logger.info({ jobId: move.jobId, batch: frozen.move!.moving, epoch: next.epoch }, 'resharding batch unfrozen')
}

function bounds(options: ResolvedReshardOptions): FencedStepBounds {
  return { lockWaitMs: options.lockWaitMs, timeoutMs: options.timeoutMs, batchTimeoutMs: options.batchTimeoutMs }
}

function jobInProgress(jobId: string): ConfigError {
  return new ConfigError('reshard', `resharding job ${jobId} is in progress: resume it (reshard with the same target), or cancel and reverse it`)
}

function describeSet(shards: readonly TopologyShard[]): string {
  return shards.map((s) => (s.weight === 1 ? s.id : `${s.id} (weight ${s.weight})`)).join(', ')
}
