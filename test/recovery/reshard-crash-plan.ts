import type { ClusterOptions, ProtocolStep, ShardConfig } from '../../src/index.js'

/** A batch's two fenced steps (docs/resharding.md): FREEZE its slots (source and log shard), then MOVE its rows (source, destination, log shard). */
export type BatchPhase = 'freeze' | 'move'

/** The mover's own steps before the two-phase commit (test/recovery/mover-steps.ts). */
export type MoverOwnStep = 'hold' | 'held' | 'raise'

/**
 * A step of the mover's fenced transaction: its own steps (`hold` before taking a
 * shard's fence, `held` once taken, `raise` once the step's work is done and the next
 * epoch's row inserted, before the fence is raised), then the two-phase commit's
 * protocol steps. `shard` names the shard by its role in the batch; `nth` counts
 * matching steps within the crashed transaction (the point's phase; default 1).
 */
export interface MoverStep {
  step: ProtocolStep | MoverOwnStep
  shard?: 'source' | 'destination' | 'log'
  nth?: number
}

/**
 * Where the mover is SIGKILLed: in the job's first step (`start`: every fence, the
 * reference tables, the job row) or in a batch from `source` to `destination` (the
 * first such batch after the job's first batch, so some batches are done already),
 * in its freeze or its move (`phase`). The mover pauses at `pauseAt` (that step never
 * completes) and is killed once every step in `after` was seen too (in the same
 * phase), so "one branch prepared, the other not" is exact even though the branches
 * prepare in parallel.
 */
export type ReshardCrashPoint = {
  name: string
  pauseAt: MoverStep
  after: MoverStep[]
  /** Prepared branches recovery must find: committed (the decision was durable) or rolled back (presumed abort). */
  recovers: { committed: number; rolledBack: number }
  /** Where the job stands once recovered: no job at all, or batches done before the crashed batch (`at`) or after it. */
  job: 'none' | 'at' | 'after'
} & (
  | { at: 'start' }
  | {
      at: 'batch'
      phase: BatchPhase
      /** Once recovered, the stored topology has the crashed batch frozen (its freeze committed, its move did not). */
      frozen: boolean
    }
)

export interface ReshardChildPlan {
  shards: ShardConfig[]
  log: string
  prefix: string
  logTable: string
  tables: NonNullable<ClusterOptions['tables']>
  target: { id: string; weight?: number }[]
  batchSize: number
  /** The mover's transaction timeout: recovery judges a killed mover's prepared branches once it has passed. */
  batchTimeoutMs: number
  /** The mover's timeoutMs (default: the library's); with batchTimeoutMs it sets how long a freeze stays valid. */
  timeoutMs?: number
  source: string
  destination: string
  crash: ReshardCrashPoint
}

/** No branch was prepared when the mover died: the servers rolled its open transaction back. */
const NONE = { committed: 0, rolledBack: 0 }

/**
 * The freeze is one transaction over the source and the log shard: the source's branch
 * is prepared, the log shard's is not (the decision is written in it and its commit is
 * the commit point). So one branch at most is left prepared.
 */
const FREEZE = { at: 'batch', phase: 'freeze' } as const
/** The move is one transaction over source, destination and log shard, once the freeze committed. */
const MOVE = { at: 'batch', phase: 'move' } as const

export const RESHARD_CRASH_POINTS: ReshardCrashPoint[] = [
  { name: 'job start: every branch prepared, no decision', at: 'start', pauseAt: { step: 'decide' }, after: [], recovers: { committed: 0, rolledBack: 2 }, job: 'none' },
  { name: 'job start: right after the decision', at: 'start', pauseAt: { step: 'decided' }, after: [], recovers: { committed: 2, rolledBack: 0 }, job: 'at' },
  { name: "freeze: before the source's fence hold", ...FREEZE, pauseAt: { step: 'hold', shard: 'source' }, after: [], recovers: NONE, job: 'at', frozen: false },
  { name: "freeze: holding the source's fence", ...FREEZE, pauseAt: { step: 'held', shard: 'source' }, after: [], recovers: NONE, job: 'at', frozen: false },
  {
    name: 'freeze: job compared-and-set, frozen epoch inserted, fence not raised',
    ...FREEZE,
    pauseAt: { step: 'raise', shard: 'source' },
    after: [],
    recovers: NONE,
    job: 'at',
    frozen: false,
  },
  {
    name: "freeze: source prepared, log shard's branch open, no decision",
    ...FREEZE,
    pauseAt: { step: 'decide' },
    after: [],
    recovers: { committed: 0, rolledBack: 1 },
    job: 'at',
    frozen: false,
  },
  { name: 'freeze: right after the decision, source still prepared', ...FREEZE, pauseAt: { step: 'decided' }, after: [], recovers: { committed: 1, rolledBack: 0 }, job: 'at', frozen: true },
  { name: 'move: rows copied, job advanced, before the end hold', ...MOVE, pauseAt: { step: 'hold' }, after: [], recovers: NONE, job: 'at', frozen: true },
  { name: 'move: holding both fences', ...MOVE, pauseAt: { step: 'held', nth: 2 }, after: [], recovers: NONE, job: 'at', frozen: true },
  { name: 'move: next epoch inserted, fences not raised', ...MOVE, pauseAt: { step: 'raise' }, after: [], recovers: NONE, job: 'at', frozen: true },
  {
    name: 'move: source prepared, destination not',
    ...MOVE,
    pauseAt: { step: 'prepare', shard: 'destination' },
    after: [{ step: 'prepared', shard: 'source' }],
    recovers: { committed: 0, rolledBack: 1 },
    job: 'at',
    frozen: true,
  },
  {
    name: 'move: destination prepared, source not',
    ...MOVE,
    pauseAt: { step: 'prepare', shard: 'source' },
    after: [{ step: 'prepared', shard: 'destination' }],
    recovers: { committed: 0, rolledBack: 1 },
    job: 'at',
    frozen: true,
  },
  { name: 'move: both prepared, no decision', ...MOVE, pauseAt: { step: 'decide' }, after: [], recovers: { committed: 0, rolledBack: 2 }, job: 'at', frozen: true },
  { name: 'move: right after the decision', ...MOVE, pauseAt: { step: 'decided' }, after: [], recovers: { committed: 2, rolledBack: 0 }, job: 'after', frozen: false },
  {
    name: 'move: source committed, destination still prepared',
    ...MOVE,
    pauseAt: { step: 'commit', shard: 'destination' },
    after: [{ step: 'committed', shard: 'source' }],
    recovers: { committed: 1, rolledBack: 0 },
    job: 'after',
    frozen: false,
  },
  {
    name: 'move: destination committed, source still prepared',
    ...MOVE,
    pauseAt: { step: 'commit', shard: 'source' },
    after: [{ step: 'committed', shard: 'destination' }],
    recovers: { committed: 1, rolledBack: 0 },
    job: 'after',
    frozen: false,
  },
]

/**
 * Where the cancel case kills the mover: its batch frozen and nothing in doubt (the
 * freeze committed on both shards), no move begun. Not in the matrix: resuming from a
 * frozen batch is what its points "right after the freeze's decision" and "move: …"
 * before the move's decision already check.
 */
export const FROZEN_NO_MOVER: ReshardCrashPoint = {
  name: 'freeze: committed, no mover left',
  ...FREEZE,
  pauseAt: { step: 'committed', shard: 'source' },
  after: [],
  recovers: NONE,
  job: 'at',
  frozen: true,
}

export function moverStepMatches(
  event: { step: MoverStep['step']; shardId: string | undefined },
  want: MoverStep,
  roles: { source: string; destination: string; log: string },
): boolean {
  return event.step === want.step && (want.shard === undefined || event.shardId === roles[want.shard])
}
