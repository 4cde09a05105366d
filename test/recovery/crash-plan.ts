import type { ShardConfig, StepEvent } from '../../src/index.js'

/**
 * Where in the commit protocol a crash is injected. The coordinator pauses at
 * `pauseAt` (that step never completes) and the crash comes once every step in
 * `after` has been seen too, so "some but not all prepared" is exact even though
 * prepares run in parallel.
 */
export interface CrashPoint {
  name: string
  pauseAt: { step: StepEvent['step']; shard?: 'a' | 'b' }
  after: { step: StepEvent['step']; shard?: 'a' | 'b' }[]
  /** Whether the transaction must end committed (the decision was durable) or rolled back. */
  outcome: 'committed' | 'rolled back'
  /** Only meaningful when the log shard is outside the transaction (two prepares). */
  needsTwoPrepares?: boolean
  /** The transfer writes shard `a` only, so it commits one-phase with no log record (the log shard's place does not matter). */
  onePhase?: boolean
}

export const CRASH_POINTS: CrashPoint[] = [
  {
    name: 'after some but not all prepares',
    pauseAt: { step: 'prepare', shard: 'b' },
    after: [{ step: 'prepared', shard: 'a' }],
    outcome: 'rolled back',
    needsTwoPrepares: true,
  },
  { name: 'after all prepares, before the decision', pauseAt: { step: 'decide' }, after: [], outcome: 'rolled back' },
  { name: 'right after the decision', pauseAt: { step: 'decided' }, after: [], outcome: 'committed' },
  {
    name: 'after some commits',
    pauseAt: { step: 'commit', shard: 'b' },
    after: [{ step: 'committed', shard: 'a' }],
    outcome: 'committed',
    needsTwoPrepares: true,
  },
  { name: 'before the forget', pauseAt: { step: 'forget' }, after: [], outcome: 'committed' },
  { name: 'before a one-phase COMMIT', pauseAt: { step: 'one-phase' }, after: [], outcome: 'rolled back', onePhase: true },
]

/** What the crash-test coordinator child is told to do. */
export interface ChildPlan {
  shards: ShardConfig[]
  log: string
  prefix: string
  logTable: string
  table: string
  /** Shard ids of the transfer's two sides; the transfer id is written on both. */
  a: string
  b: string
  transferId: number
  point: CrashPoint
  timeoutMs: number
}

/** Does `event` match a step named in a crash point, given which shard ids are `a` and `b`? */
export function matches(
  event: StepEvent,
  want: { step: StepEvent['step']; shard?: 'a' | 'b' },
  ids: { a: string; b: string },
): boolean {
  return event.step === want.step && (want.shard === undefined || event.shardId === ids[want.shard])
}
