/**
 * What one run of the epoch-fence model explores. Like the commit-protocol model
 * next door it imports nothing from src/: it restates docs/topology.md as steps.
 *
 * One key. Under epoch 1 it belongs to shard `A`, under epoch 2 to shard `B`
 * (the change moves it). Writers route by the epoch they loaded; a mover changes
 * the topology from 1 to 2; crashes of writers (in doubt after PREPARE, settled
 * by recovery later) and of the mover take from one failure budget.
 */
export type FenceKind = 'pg' | 'mysql'

export interface FenceBugs {
  /** A branch reads the fence without its shared lock: an epoch change can raise it under the branch. */
  fenceReadWithoutLock?: boolean
  /** The mover raises a fence without waiting for the prepared branches on a shard whose shared lock ends at PREPARE. */
  skipPreparedDrain?: boolean
  /** The mover publishes the new epoch once the key's new owner is raised, before the old owner is. */
  publishBeforeAllRaised?: boolean
}

export interface FenceScope {
  name: string
  /** `pg`: a prepared branch keeps the fence lock. `mysql`: PREPARE releases it (MDEV-26682). */
  kinds: { A: FenceKind; B: FenceKind }
  /** Concurrent writer processes, each starting at epoch 1, each running this many transactions. */
  writers: number
  transactionsEach: number
  failures: number
  bugs?: FenceBugs
}

export const fenceScopes: readonly FenceScope[] = [
  { name: 'pg-to-pg', kinds: { A: 'pg', B: 'pg' }, writers: 2, transactionsEach: 1, failures: 1 },
  { name: 'mysql-to-pg', kinds: { A: 'mysql', B: 'pg' }, writers: 2, transactionsEach: 1, failures: 1 },
  { name: 'mysql-to-mysql/2-failures', kinds: { A: 'mysql', B: 'mysql' }, writers: 1, transactionsEach: 2, failures: 2 },
]
