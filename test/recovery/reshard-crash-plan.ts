import type { ClusterOptions, ProtocolStep, ShardConfig } from '../../src/index.js'

/**
 * A step of the mover's fenced transaction: its own steps (`hold` before taking a
 * shard's fence, `held` once taken, `raise` once the rows are copied and deleted,
 * the job advanced and the next epoch's row inserted, before the fence is raised),
 * then the two-phase commit's protocol steps. `shard` names the shard by its role in
 * the batch; `nth` counts matching steps within the crashed transaction (default 1).
 */
export interface MoverStep {
  step: ProtocolStep | 'hold' | 'held' | 'raise'
  shard?: 'source' | 'destination' | 'log'
  nth?: number
}

/**
 * Where the mover is SIGKILLed: in the job's first step (`start`: every fence, the
 * reference tables, the job row) or in a batch from `source` to `destination` (the
 * first such batch after the job's first batch, so some batches are done already).
 * The mover pauses at `pauseAt` (that step never completes) and is killed once every
 * step in `after` was seen too, so "one branch prepared, the other not" is exact
 * even though the branches prepare in parallel.
 */
export interface ReshardCrashPoint {
  name: string
  at: 'start' | 'batch'
  pauseAt: MoverStep
  after: MoverStep[]
}

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
  source: string
  destination: string
  crash: ReshardCrashPoint
}

export const RESHARD_CRASH_POINTS: ReshardCrashPoint[] = [
  { name: 'job start: every branch prepared, no decision', at: 'start', pauseAt: { step: 'decide' }, after: [] },
  { name: 'job start: right after the decision', at: 'start', pauseAt: { step: 'decided' }, after: [] },
  { name: 'batch: before the first fence hold', at: 'batch', pauseAt: { step: 'hold' }, after: [] },
  { name: 'batch: holding both fences', at: 'batch', pauseAt: { step: 'held', nth: 2 }, after: [] },
  { name: 'batch: rows copied and deleted, job advanced, fences not raised', at: 'batch', pauseAt: { step: 'raise' }, after: [] },
  {
    name: 'batch: source prepared, destination not',
    at: 'batch',
    pauseAt: { step: 'prepare', shard: 'destination' },
    after: [{ step: 'prepared', shard: 'source' }],
  },
  {
    name: 'batch: destination prepared, source not',
    at: 'batch',
    pauseAt: { step: 'prepare', shard: 'source' },
    after: [{ step: 'prepared', shard: 'destination' }],
  },
  { name: 'batch: both prepared, no decision', at: 'batch', pauseAt: { step: 'decide' }, after: [] },
  { name: 'batch: right after the decision', at: 'batch', pauseAt: { step: 'decided' }, after: [] },
  {
    name: 'batch: source committed, destination still prepared',
    at: 'batch',
    pauseAt: { step: 'commit', shard: 'destination' },
    after: [{ step: 'committed', shard: 'source' }],
  },
  {
    name: 'batch: destination committed, source still prepared',
    at: 'batch',
    pauseAt: { step: 'commit', shard: 'source' },
    after: [{ step: 'committed', shard: 'destination' }],
  },
]

export function moverStepMatches(
  event: { step: MoverStep['step']; shardId: string | undefined },
  want: MoverStep,
  roles: { source: string; destination: string; log: string },
): boolean {
  return event.step === want.step && (want.shard === undefined || event.shardId === roles[want.shard])
}
