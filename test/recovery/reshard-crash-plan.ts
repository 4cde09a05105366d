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
  /** Prepared branches recovery must find: committed (the decision was durable) or rolled back (presumed abort). */
  recovers: { committed: number; rolledBack: number }
  /** Where the job stands once recovered: no job at all, or batches done before the crashed step (`at`) or after it. */
  job: 'none' | 'at' | 'after'
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

/** No branch was prepared when the mover died: the servers rolled its open transaction back. */
const NONE = { committed: 0, rolledBack: 0 }

export const RESHARD_CRASH_POINTS: ReshardCrashPoint[] = [
  { name: 'job start: every branch prepared, no decision', at: 'start', pauseAt: { step: 'decide' }, after: [], recovers: { committed: 0, rolledBack: 2 }, job: 'none' },
  { name: 'job start: right after the decision', at: 'start', pauseAt: { step: 'decided' }, after: [], recovers: { committed: 2, rolledBack: 0 }, job: 'at' },
  { name: 'batch: before the first fence hold', at: 'batch', pauseAt: { step: 'hold' }, after: [], recovers: NONE, job: 'at' },
  { name: 'batch: holding both fences', at: 'batch', pauseAt: { step: 'held', nth: 2 }, after: [], recovers: NONE, job: 'at' },
  { name: 'batch: rows copied and deleted, job advanced, fences not raised', at: 'batch', pauseAt: { step: 'raise' }, after: [], recovers: NONE, job: 'at' },
  {
    name: 'batch: source prepared, destination not',
    at: 'batch',
    pauseAt: { step: 'prepare', shard: 'destination' },
    after: [{ step: 'prepared', shard: 'source' }],
    recovers: { committed: 0, rolledBack: 1 },
    job: 'at',
  },
  {
    name: 'batch: destination prepared, source not',
    at: 'batch',
    pauseAt: { step: 'prepare', shard: 'source' },
    after: [{ step: 'prepared', shard: 'destination' }],
    recovers: { committed: 0, rolledBack: 1 },
    job: 'at',
  },
  { name: 'batch: both prepared, no decision', at: 'batch', pauseAt: { step: 'decide' }, after: [], recovers: { committed: 0, rolledBack: 2 }, job: 'at' },
  { name: 'batch: right after the decision', at: 'batch', pauseAt: { step: 'decided' }, after: [], recovers: { committed: 2, rolledBack: 0 }, job: 'after' },
  {
    name: 'batch: source committed, destination still prepared',
    at: 'batch',
    pauseAt: { step: 'commit', shard: 'destination' },
    after: [{ step: 'committed', shard: 'source' }],
    recovers: { committed: 1, rolledBack: 0 },
    job: 'after',
  },
  {
    name: 'batch: destination committed, source still prepared',
    at: 'batch',
    pauseAt: { step: 'commit', shard: 'source' },
    after: [{ step: 'committed', shard: 'destination' }],
    recovers: { committed: 1, rolledBack: 0 },
    job: 'after',
  },
]

export function moverStepMatches(
  event: { step: MoverStep['step']; shardId: string | undefined },
  want: MoverStep,
  roles: { source: string; destination: string; log: string },
): boolean {
  return event.step === want.step && (want.shard === undefined || event.shardId === roles[want.shard])
}
