/**
 * What one run of the resharding model explores. Like the other models it imports
 * nothing from src/: it restates the batch protocol of issue #18 as steps.
 *
 * Shards `A`, `B`, `C` (indices 0, 1, 2); `A` holds the log. Keys `k1`, `k2`. A plan
 * is an ordered list of batches, each moving some keys from one source to one
 * destination; routing under a job epoch is a pure function of how many batches
 * that epoch says are done. Writers route by the epoch they loaded (a stale one at
 * first); movers run the job (start, batches forward, and after a cancel, back);
 * crashes of writers and movers take from one failure budget.
 */
export type ShardKind = 'pg' | 'mysql'

export interface Batch {
  keys: readonly number[]
  from: number
  to: number
}

export interface ReshardBugs {
  /** A shard refuses a branch only if its fence is more than one epoch ahead (`F(s) > E + 1`). */
  refuseOnlyTwoBehind?: boolean
  /** A shard never refuses a branch for its epoch (it still refuses where it has no fence row). */
  neverRefuse?: boolean
  /** A batch raises its source's fence, not its destination's. */
  raiseSourceOnly?: boolean
  /** A batch raises its destination's fence, not its source's. */
  raiseDestinationOnly?: boolean
  /** A batch takes a MariaDB fence without waiting for our prepared branches there (they lost its shared lock at PREPARE). */
  skipPreparedDrain?: boolean
  /** A batch sets the job's `done` without comparing it with the value it planned from (the state is still compared, with `jobCas: 'done-and-state'`). */
  skipDoneCas?: boolean
}

export interface ReshardScope {
  name: string
  /** `pg`: a prepared branch keeps every lock. `mysql`: XA PREPARE drops its shared locks (MDEV-26682), keeps its exclusive ones. */
  kinds: readonly [ShardKind, ShardKind, ShardKind]
  /** Each key's shard under the old ring. */
  oldOwner: readonly number[]
  batches: readonly Batch[]
  /** Shards the job adds: no fence row before the job starts. */
  added: readonly number[]
  /** One writer process per entry, starting at epoch 1 (before the job), writing its key in each transaction. */
  writers: ReadonlyArray<{ key: number; transactions: number }>
  movers: number
  /** An operator may cancel the job (once, at any time); movers then move the done batches back. */
  reverse: boolean
  /**
   * How a batch reads the rows it copies: `snapshot` (a plain MVCC read: it does not
   * wait for a prepared branch's row locks) or `locking` (`FOR SHARE` / `LOCK IN
   * SHARE MODE`: it waits for them).
   */
  copyRead: 'snapshot' | 'locking'
  /**
   * What a batch's compare-and-set on the job row compares: `done` alone (issue #18 as
   * written: a forward mover that planned before a cancel can still succeed once the
   * reverse has brought `done` back to its value, ABA), or `done` and the job's state
   * (forward needs `running`, reverse `cancelled`).
   */
  jobCas: 'done' | 'done-and-state'
  failures: number
  /** Bounds the state space when a seeded bug lets movers go on forever; the correct protocol never reaches it. */
  maxEpoch: number
  bugs?: ReshardBugs
}

export const LOG_SHARD = 0
export const SHARD_NAMES = ['A', 'B', 'C'] as const
export const KEY_NAMES = ['k1', 'k2'] as const

/** k1 moves A → B, then k2 moves B → C (C is added): B is the destination of one batch and the source of the next, A (the log) is a source once and a bystander once. */
const plan = {
  oldOwner: [0, 1],
  batches: [
    { keys: [0], from: 0, to: 1 },
    { keys: [1], from: 1, to: 2 },
  ],
  added: [2],
} as const

const base = { ...plan, movers: 1, reverse: false, copyRead: 'snapshot', jobCas: 'done-and-state', maxEpoch: 8 } as const

const twoWriters = [
  { key: 0, transactions: 1 },
  { key: 1, transactions: 1 },
] as const

/** CI: each well under 20 s on a slow 2-core machine (see docs/model-check.md for the counts). */
export const reshardScopes: readonly ReshardScope[] = [
  // Two stale writers (one per key), one mover, two crashes anywhere (writers or mover).
  { ...base, name: 'pg-mysql-pg/2-failures', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, failures: 2 },
  // The log shard and the added one on MariaDB: a MariaDB source (A) and destination (C).
  { ...base, name: 'mysql-pg-mysql', kinds: ['mysql', 'pg', 'mysql'], writers: twoWriters, failures: 1 },
  // Cancel and reverse: the done batches move back, epochs still grow.
  { ...base, name: 'reverse/pg-mysql-pg', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, reverse: true, failures: 1 },
  // Two movers racing on the same job, and a cancel.
  { ...base, name: 'two-movers', kinds: ['pg', 'mysql', 'pg'], writers: [], movers: 2, reverse: true, failures: 1 },
]

/** `npx tsx test/model/run.ts --scope reshard-large`. */
export const largeReshardScopes: readonly ReshardScope[] = [
  { ...base, name: 'pg-mysql-pg/3-failures', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, failures: 3 },
  { ...base, name: 'reverse/mysql-pg-mysql/2-failures', kinds: ['mysql', 'pg', 'mysql'], writers: twoWriters, reverse: true, failures: 2 },
  { ...base, name: 'two-movers/1-writer', kinds: ['pg', 'mysql', 'pg'], writers: [{ key: 1, transactions: 1 }], movers: 2, reverse: true, failures: 1 },
]

/** The key's shard once `done` batches are done. */
export function route(scope: ReshardScope, key: number, done: number): number {
  let owner = scope.oldOwner[key]!
  scope.batches.forEach((b, i) => {
    if (i < done && b.keys.includes(key)) owner = b.to
  })
  return owner
}
