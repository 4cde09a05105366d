/**
 * What one run of the resharding model explores. Like the other models it imports
 * nothing from src/: it restates the two-step batch protocol (which replaces issue
 * #18's one-step batch so that a batch no longer blocks its shards' other keys) as steps.
 *
 * Shards `A`, `B`, `C` (indices 0, 1, 2); `A` holds the log. Keys `k1`, `k2`. A plan
 * is an ordered list of batches, each moving some keys from one source to one
 * destination; routing under a job epoch is a pure function of how many batches
 * that epoch says are done, and of the batch it says is moving (its keys are refused
 * in the client). A batch is a FREEZE step (publish `moving = i`, raise the source)
 * and a MOVE step (copy, then hold both fences, publish done ± 1, raise both); an
 * UNFREEZE step publishes the frozen epoch's move without `moving`. Writers route by
 * the epoch they loaded (a stale one at first); movers run the job (start, batches
 * forward, and after a cancel, back); crashes of writers and movers take from one
 * failure budget.
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
  /** A MOVE raises its source's fence, not its destination's. */
  raiseSourceOnly?: boolean
  /** A MOVE raises its destination's fence, not its source's. */
  raiseDestinationOnly?: boolean
  /** A FREEZE or MOVE takes a MariaDB fence without waiting for our prepared branches there (they lost its shared lock at PREPARE). */
  skipPreparedDrain?: boolean
  /** A FREEZE or MOVE compares the job's `done` with nothing (the state is still compared, with `jobCas: 'done-and-state'`); a MOVE sets it from the value it planned from. */
  skipDoneCas?: boolean
  /** (a) The router does not refuse the keys of the moving batch: a writer at the frozen epoch writes the source during the copy. */
  routerIgnoresFrozen?: boolean
  /** (b) FREEZE does not raise the source's fence: a writer at the epoch before it still passes the source during the copy. */
  freezeSkipsSourceRaise?: boolean
  /** (c) MOVE publishes without its final exclusive hold of the source and destination (its branches keep their shared fence locks only). */
  moveSkipsFinalHold?: boolean
  /** (d) UNFREEZE does not compete for the epoch number: it inserts the move it read, unfrozen, at whatever epoch is next when it commits. */
  unfreezeAnyEpoch?: boolean
  /** A mover whose job has no batch left to move (cancelled at done 0) does not look for a frozen batch, so it never unfreezes one. */
  idleIgnoresFrozen?: boolean
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
  /**
   * Fan-out processes, one transaction each, starting at epoch 1: a statement with no
   * key on every shard of its epoch's set, `write` (`UPDATE t SET …`) or `read`
   * (`SELECT … FROM t`). The router never refuses them for a frozen batch; each branch
   * passes the fence with its shared lock like any branch.
   */
  fanOuts?: ReadonlyArray<'write' | 'read'>
  movers: number
  /**
   * An operator may stop the job once, at any time: `cancel()` (the job's state and,
   * if the topology is frozen, an UNFREEZE, in one transaction on the log shard) or
   * `reverseReshard()` (the state only: the movers unfreeze). Movers then move the
   * done batches back.
   */
  reverse: boolean
  /**
   * How a MOVE reads the rows it copies: `snapshot` (a plain MVCC read: it does not
   * wait for a writer's row lock, and takes none) or `locking` (`FOR SHARE` / `LOCK IN
   * SHARE MODE`: it waits for them, and holds a shared row lock to its end).
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

/**
 * maxEpoch: the start, two epochs per batch each way, an unfreeze by a cancel, and more
 * by movers that read `done` before a MOVE and the topology after it (each such unfreeze
 * needs another MOVE in between): the correct protocol publishes at most epoch 6 without
 * reverse, 10 with it, 14 with two movers. A scope that hits the bound is reported
 * stuck (a mover at the bound takes no step), so 16 is never silently too low.
 */
const base = { ...plan, movers: 1, reverse: false, copyRead: 'snapshot', jobCas: 'done-and-state', maxEpoch: 16 } as const

const twoWriters = [
  { key: 0, transactions: 1 },
  { key: 1, transactions: 1 },
] as const

/** CI: each under 20 s on a loaded 2-core machine under vitest (counts: `minimumStates` in reshard-model.test.ts). */
export const reshardScopes: readonly ReshardScope[] = [
  // Two stale writers (one per key), one mover, two crashes anywhere (writers or mover).
  { ...base, name: 'pg-mysql-pg/2-failures', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, failures: 2 },
  // The log shard and the added one on MariaDB: a MariaDB source (A) and destination (C).
  { ...base, name: 'mysql-pg-mysql', kinds: ['mysql', 'pg', 'mysql'], writers: twoWriters, failures: 1 },
  // Cancel (with its unfreeze) or reverse (the movers unfreeze), and the done batches move back; epochs still grow.
  { ...base, name: 'reverse/pg-mysql-pg', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, reverse: true, failures: 1 },
  // Two movers racing on the same job (FREEZE against MOVE against UNFREEZE), and a cancel.
  { ...base, name: 'two-movers', kinds: ['pg', 'mysql', 'pg'], writers: [], movers: 2, reverse: true, failures: 1 },
  // A fan-out writer (not refused for a frozen batch) racing the copy, a cancel, two crashes; the copy reads with a
  // locking read: with a plain one a fan-out write is lost (see reshard-model.test.ts, "found by the model").
  { ...base, name: 'fan-out/reverse/2-failures', kinds: ['pg', 'mysql', 'pg'], writers: [], fanOuts: ['write'], copyRead: 'locking', reverse: true, failures: 2 },
  // A fan-out reader racing the same (with the plain copy read: a reader does not care): it sees each row once.
  { ...base, name: 'fan-out-read/reverse/2-failures', kinds: ['pg', 'mysql', 'pg'], writers: [], fanOuts: ['read'], reverse: true, failures: 2 },
]

/** `npx tsx test/model/run.ts --scope reshard-large`. */
export const largeReshardScopes: readonly ReshardScope[] = [
  { ...base, name: 'pg-mysql-pg/3-failures', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, failures: 3 },
  { ...base, name: 'reverse/mysql-pg-mysql/2-failures', kinds: ['mysql', 'pg', 'mysql'], writers: twoWriters, reverse: true, failures: 2 },
  { ...base, name: 'two-movers/1-writer', kinds: ['pg', 'mysql', 'pg'], writers: [{ key: 1, transactions: 1 }], movers: 2, reverse: true, failures: 1 },
  { ...base, name: 'fan-out/2-writers', kinds: ['pg', 'mysql', 'pg'], writers: twoWriters, fanOuts: ['write'], copyRead: 'locking', failures: 1 },
  { ...base, name: 'fan-out/write-and-read/reverse', kinds: ['pg', 'mysql', 'pg'], writers: [], fanOuts: ['write', 'read'], copyRead: 'locking', reverse: true, failures: 1 },
  { ...base, name: 'fan-out/reverse/mysql-pg-mysql/1-writer', kinds: ['mysql', 'pg', 'mysql'], writers: [{ key: 0, transactions: 1 }], fanOuts: ['write'], copyRead: 'locking', reverse: true, failures: 1 },
]

/** The shards a fan-out statement visits under an epoch: the old set before the job (epoch 1), both sets during it (no shard is removed here). */
export function shardsOf(scope: ReshardScope, epoch: number): number[] {
  return [0, 1, 2].filter((s) => epoch > 1 || !scope.added.includes(s))
}

/** The key's shard once `done` batches are done. */
export function route(scope: ReshardScope, key: number, done: number): number {
  let owner = scope.oldOwner[key]!
  scope.batches.forEach((b, i) => {
    if (i < done && b.keys.includes(key)) owner = b.to
  })
  return owner
}
