/**
 * What one run of the log-move model explores. Like the other models it imports
 * nothing from src/: it restates docs/moving-the-log.md as steps.
 *
 * Three shards: `L` (the log at epoch 1), `M` (the log the move goes to, epoch 2)
 * and `X` (a plain shard). Coordinators write on two shards each, route by the
 * epoch they loaded and decide on that epoch's log; a mover moves the log (one
 * two-phase transaction holding every fence); a recoverer that loaded epoch 1 and
 * never reloads (as stale as a process can be) settles prepared branches. Crashes
 * of coordinators and of the mover take from one failure budget.
 */
export type ShardKind = 'pg' | 'mysql'
export type ShardName = 'L' | 'M' | 'X'

export interface MoveLogBugs {
  /** The recoverer decides on the log of the topology it loaded, not on the one the shard's fence names. */
  recovererUsesOwnLog?: boolean
  /** The move neither holds X's fence nor waits for X's branches, yet raises it. */
  moveSkipsHoldOfX?: boolean
  /** The recoverer reads the shard's fence before listing its prepared branches, not after. */
  fenceReadBeforeListing?: boolean
}

export interface MoveLogScope {
  name: string
  /** `pg`: a prepared branch keeps its shared fence lock. `mysql`: PREPARE releases it; the hold waits until no prepared branch is left. */
  kinds: Record<ShardName, ShardKind>
  /** Each coordinator's two shards, in the order it opens them. */
  coordinators: readonly (readonly [ShardName, ShardName])[]
  /** Attempts per coordinator (a refused or fenced attempt uses one). */
  attempts: number
  failures: number
  bugs?: MoveLogBugs
}

/** CI scope (seconds): one coordinator that retries at the new epoch, in each direction. */
export const moveLogScopes: readonly MoveLogScope[] = [
  { name: 'pg-log-to-mysql-log', kinds: { L: 'pg', M: 'mysql', X: 'pg' }, coordinators: [['X', 'L']], attempts: 2, failures: 1 },
  { name: 'mysql-log-to-pg-log', kinds: { L: 'mysql', M: 'pg', X: 'mysql' }, coordinators: [['M', 'X']], attempts: 2, failures: 1 },
]

/** `npx tsx test/model/run.ts --scope movelog-large` (about a minute): two coordinators, two failures. */
export const largeMoveLogScopes: readonly MoveLogScope[] = [
  ...moveLogScopes,
  { name: 'two-coordinators', kinds: { L: 'pg', M: 'mysql', X: 'pg' }, coordinators: [['X', 'L'], ['M', 'X']], attempts: 1, failures: 1 },
  { name: 'pg-log-to-mysql-log/2-failures', kinds: { L: 'pg', M: 'mysql', X: 'pg' }, coordinators: [['X', 'M']], attempts: 2, failures: 2 },
]
