import { randomBytes } from 'node:crypto'
import type { Knex } from 'knex'
import { ConfigError } from '../errors.js'
import { functionOption, plainObject, positiveMs, rejectUnknownKeys } from '../config/validate.js'
import { reshardTableOf } from '../topology/table-names.js'
import { topologyRowOf, type TopologyStore } from '../topology/topology-store.js'
import { routedShards, type Topology } from '../topology/topology.js'
import { FenceNotHeld, runFencedStep } from './fenced-step.js'
import { onShard, type ReshardContext } from './reshard-context.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

/**
 * Options of `cluster.moveLog()`.
 *
 * ```ts
 * await cluster.moveLog('my-0', { lockWaitMs: 100, timeoutMs: 30_000 })
 * ```
 */
export interface MoveLogOptions {
  /** Longest wait for one shard's fence, in ms (default 100); branches on that shard fail fast (retryably) meanwhile. */
  lockWaitMs?: number
  /** Give up after this many ms of blocked tries (default 30 000): TopologyChangeBlockedError names the blockers; nothing changed. */
  timeoutMs?: number
  /** Bound on the move's transaction, in ms (default 30 000). */
  stepTimeoutMs?: number
  /** Observes each step as it is about to happen (progress, tests); awaited. */
  onStep?: (event: MoveLogStepEvent) => void | Promise<void>
}

/**
 * One step of a log move, reported before it happens: `tables` (the log's tables
 * created on the new log shard), `move` (the one fenced transaction that switches).
 *
 * ```ts
 * await cluster.moveLog('my-0', { onStep: (e) => console.log(e.step, e.epoch) })
 * ```
 */
export interface MoveLogStepEvent {
  step: 'tables' | 'move'
  epoch: number
  to: string
}

/**
 * What a log move did: the topology before and after (`to.logShardId` is the new log shard).
 *
 * ```ts
 * const { from, to } = await cluster.moveLog('my-0')
 * ```
 */
export interface LogMove {
  from: Topology
  to: Topology
  /** Every shard whose fence the move held and raised, in id order. */
  fenced: string[]
}

/**
 * What a log move needs beyond a resharding job's context.
 *
 * ```ts
 * await moveLog({ ...reshardContext, storeOf, createLogTables }, 'my-0')
 * ```
 */
export interface MoveLogContext extends ReshardContext {
  /** The topology table on any shard. */
  storeOf(shardId: string): TopologyStore
  /** Creates (idempotently) the log shard's tables on a shard: the migrations `migrate()` runs on the log shard. */
  createLogTables(shardId: string): Promise<void>
}

interface ResolvedMoveLogOptions {
  lockWaitMs: number
  timeoutMs: number
  stepTimeoutMs: number
  onStep: ((event: MoveLogStepEvent) => void | Promise<void>) | undefined
}

const KNOWN = ['lockWaitMs', 'timeoutMs', 'stepTimeoutMs', 'onStep']

function resolveOptions(input: unknown): ResolvedMoveLogOptions {
  const options = input === undefined ? {} : plainObject('options', input, 'MoveLogOptions')
  rejectUnknownKeys('options', options, KNOWN)
  if (options.onStep !== undefined) functionOption('options.onStep', options.onStep)
  return {
    lockWaitMs: positiveMs('options.lockWaitMs', options.lockWaitMs) ?? 100,
    timeoutMs: positiveMs('options.timeoutMs', options.timeoutMs) ?? 30_000,
    stepTimeoutMs: positiveMs('options.stepTimeoutMs', options.stepTimeoutMs) ?? 30_000,
    onStep: options.onStep as ResolvedMoveLogOptions['onStep'],
  }
}

/**
 * Moves the decision log, the topology and the resharding jobs from the log shard
 * L to `toShardId` M (docs/moving-the-log.md): an epoch change E → E+1, one shardtx
 * two-phase transaction that holds the fence of every shard exclusively (every
 * routed shard, and every other shard of this process that has a fence row), so
 * that no branch of epoch E is active or prepared anywhere when it commits; copies
 * the topology history and the job rows to M; inserts E+1 naming M on M and on L
 * (the forward pointer processes configured with L follow); and raises every
 * fence to E+1 naming M. Refused, with nothing changed, while a resharding job is
 * in progress or a topology change is pending.
 *
 * ```ts
 * const { from, to, fenced } = await moveLog(ctx, 'my-0', { lockWaitMs: 100 })
 * ```
 */
export async function moveLog(ctx: MoveLogContext, toShardId: string, input?: unknown): Promise<LogMove> {
  const options = resolveOptions(input)
  if (typeof toShardId !== 'string' || toShardId === '') throw new ConfigError('to', 'must name the shard to move the log to')
  if (!ctx.participants.has(toShardId)) {
    throw new ConfigError('to', `unknown shard "${toShardId}" (this process connects to: ${[...ctx.participants.keys()].join(', ')})`)
  }
  const from = (await ctx.state.reload()).topology
  const logId = from.logShardId
  if (toShardId === logId) throw new ConfigError('to', `${toShardId} is the log shard already (epoch ${from.epoch})`)
  const routed = routedShards(from).map((s) => s.id)
  if (!routed.includes(toShardId)) {
    throw new ConfigError(
      'to',
      `${toShardId} is not in the topology (epoch ${from.epoch}: ${routed.join(', ')}): add it first (cluster.setTopology or cluster.reshard), then move the log there`,
    )
  }
  if (from.move !== undefined) {
    throw new ConfigError('moveLog', `resharding job ${from.move.jobId} is in progress: finish it, or cancel and reverse it, before moving the log`)
  }
  // Every statement outside the fenced step bounded, as in the other operator calls.
  const statementMs = ctx.config.timeouts.recoveryMs
  const onLog = <T>(read: (knex: Knex) => Promise<T>): Promise<T> =>
    withBoundedKnex(ctx.participants.get(logId)!, statementMs, (knex) => onShard(ctx, logId, 'could not read the log shard', () => read(knex)))
  const latest = await onLog((knex) => ctx.store.latest(knex))
  if (latest !== undefined && (latest.state === 'running' || latest.state === 'reversing')) {
    throw new ConfigError('moveLog', `resharding job ${latest.id} is ${latest.state}: finish it, or cancel and reverse it, before moving the log`)
  }
  const pending = await onShard(ctx, logId, 'could not read the log shard', () => ctx.storeOf(logId).pending(from.epoch))
  if (pending !== undefined) {
    throw new ConfigError('moveLog', `a topology change to epoch ${pending.epoch} was claimed and not published: run setTopology() to finish it first`)
  }
  const fenced = await shardsToFence(ctx, routed)

  await options.onStep?.({ step: 'tables', epoch: from.epoch + 1, to: toShardId })
  await onShard(ctx, toShardId, 'could not create the log tables', () => ctx.createLogTables(toShardId))
  // Refused before the step when it cannot succeed; checked again inside it.
  await withBoundedKnex(ctx.participants.get(toShardId)!, statementMs, (target) =>
    onLog((log) => onShard(ctx, toShardId, 'could not read its topology table', () => historyToCopy(target, log, ctx.topologyTable, from, toShardId))),
  )

  const to: Topology = { epoch: from.epoch + 1, shards: from.shards, logShardId: toShardId }
  const claimedBy = `log-${randomBytes(8).toString('hex')}`
  await options.onStep?.({ step: 'move', epoch: to.epoch, to: toShardId })
  await runFencedStep(
    ctx,
    {
      shards: fenced,
      next: to,
      claimedBy,
      work: async (tx) => {
        await refusePrepared(ctx, fenced)
        const oldLog = tx.forShard(logId)
        const newLog = tx.forShard(toShardId)
        // Every fence is held: the history and the jobs cannot change until this commits.
        for (const row of await historyToCopy(newLog, oldLog, ctx.topologyTable, from, toShardId)) {
          await newLog(ctx.topologyTable).insert(row)
        }
        const jobTable = reshardTableOf(ctx.config.logTable)
        const there = new Set(((await newLog(jobTable).select('id')) as { id: string }[]).map((r) => r.id))
        for (const row of (await oldLog(jobTable).select()) as Record<string, unknown>[]) {
          if (!there.has(String(row.id))) await newLog(jobTable).insert(row)
        }
        // The epoch itself, on the new log; runFencedStep inserts it on the old one (the pointer).
        await newLog(ctx.topologyTable).insert(topologyRowOf(to, claimedBy))
      },
    },
    { lockWaitMs: options.lockWaitMs, timeoutMs: options.timeoutMs, batchTimeoutMs: options.stepTimeoutMs },
  )
  ctx.logger.info({ from: logId, to: toShardId, epoch: to.epoch }, 'the log moved')
  // The move committed: following it now is a courtesy (a shard down in the commit phase is left
  // to recovery, and the next transaction reloads anyway).
  ctx.state.invalidate()
  await ctx.state.reload().catch((error: unknown) => ctx.logger.warn({ err: error }, 'the log moved; reading the topology on the new log failed, the next transaction reloads it'))
  return { from, to, fenced }
}

/**
 * The barrier, checked: with every fence held, no prepared branch of ours may be left
 * on any of those shards. A branch that passed a fence keeps it held while prepared
 * (PostgreSQL) or is waited out by the hold (MariaDB), so this finds only branches
 * that never took the fence (made before fences existed, or by hand); the move is
 * tried again after a pause until they are resolved, as for a held fence.
 */
async function refusePrepared(ctx: MoveLogContext, shardIds: string[]): Promise<void> {
  const blockers: string[] = []
  for (const id of shardIds) {
    const prepared = await onShard(ctx, id, 'could not list prepared branches', () => ctx.participants.get(id)!.listPrepared())
    for (const b of prepared) blockers.push(`shard ${id}: prepared branch of transaction ${b.txId} (in doubt until its coordinator or recovery finishes it)`)
  }
  if (blockers.length > 0) throw new FenceNotHeld(blockers)
}

/**
 * The shards whose fences the move holds and raises: every routed shard, and every
 * other shard this process connects to that has a fence row (a branch opened there
 * by id, outside routing, is fenced like any other: its fence must name the new log
 * too, or a recoverer would ask the old one). In id order.
 */
async function shardsToFence(ctx: MoveLogContext, routed: string[]): Promise<string[]> {
  const ids = new Set(routed)
  for (const id of ctx.participants.keys()) {
    if (ids.has(id)) continue
    const row = await onShard(ctx, id, 'could not read its fence', () =>
      ctx.fences
        .get(id)!
        .read()
        .catch((error: unknown) => {
          if (error instanceof ConfigError) return undefined // no fence table: no branch passes it
          throw error
        }),
    )
    if (row !== undefined) ids.add(id)
  }
  return [...ids].sort()
}

interface TopologyRowText {
  epoch: number | string
  shards: string
  log_shard: string
  state: string
  claimed_by: string
  created_at: number | string
  reshard?: string | null
}

/**
 * The rows of the history (epochs up to `from`) that `target` lacks. `target` may
 * hold none, or (a shard that was this cluster's log before) the beginning of this
 * same history, ending with the row that pointed away from it; anything else is
 * another cluster's topology, and the move is refused.
 */
async function historyToCopy(target: Knex, oldLog: Knex, table: string, from: Topology, toShardId: string): Promise<Record<string, unknown>[]> {
  const held = (await target(table).select().orderBy('epoch', 'asc')) as TopologyRowText[]
  const history = ((await oldLog(table).select().where('epoch', '<=', from.epoch).orderBy('epoch', 'asc')) as TopologyRowText[]).map(normalized)
  const byEpoch = new Map(history.map((r) => [Number(r.epoch), r]))
  for (const row of held) {
    const mine = byEpoch.get(Number(row.epoch))
    if (mine === undefined || mine.shards !== row.shards || mine.log_shard !== row.log_shard) {
      throw new ConfigError(
        'to',
        `${toShardId} holds a topology that is not this cluster's history (epoch ${Number(row.epoch)}, log shard ${row.log_shard}): another cluster's log? Nothing was changed`,
      )
    }
  }
  const last = held.at(-1)
  if (last !== undefined && last.log_shard === toShardId) {
    throw new ConfigError('to', `${toShardId} holds a topology whose latest row names it as the log shard (epoch ${Number(last.epoch)}): nothing was changed`)
  }
  const have = new Set(held.map((r) => Number(r.epoch)))
  return history.filter((r) => !have.has(Number(r.epoch)))
}

/** A topology row as read from either dialect, ready to insert into the other (bigints as numbers). */
function normalized(row: TopologyRowText): Record<string, unknown> & TopologyRowText {
  return {
    epoch: Number(row.epoch),
    shards: row.shards,
    log_shard: row.log_shard,
    state: row.state,
    claimed_by: row.claimed_by,
    created_at: Number(row.created_at),
    reshard: row.reshard ?? null,
  }
}
