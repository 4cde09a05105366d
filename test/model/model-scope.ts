/**
 * What one model-check run explores: the shards, the transactions' plans, how
 * many recoverers, how many failures, and which seeded bugs are switched on.
 */

export type ShardKind = 'pg' | 'mysql'

export interface ShardSpec {
  name: string
  /** `pg`: any session may finish a prepared branch. `mysql`: only the owner while it is connected. */
  kind: ShardKind
}

/** The shards a transaction touches, in the order the caller touches them. */
export interface TxPlan {
  touches: ReadonlyArray<{ shard: string; writes: boolean }>
}

/**
 * Deliberate protocol bugs, test-only. Each one removes a rule the protocol
 * depends on; the seeded-bug tests show the checker finds every one of them.
 */
export interface SeededBugs {
  /** (a) The recoverer rolls back a prepared branch without first inserting the abort record. */
  recovererAbortsWithoutFence?: boolean
  /** (b) The coordinator deletes its commit record although a commitPrepared failed. */
  forgetBeforeAllCommitted?: boolean
  /** (c) The coordinator commits although its fenced insert hit the abort record (PK conflict). */
  coordinatorIgnoresInsertResult?: boolean
  /** The recoverer deletes a commit record although a listed participant was down. */
  forgetWithoutReachingAll?: boolean
  /**
   * The recoverer reads the commit records it may forget after listing the
   * shards instead of before: a listing taken while the coordinator was still
   * preparing says "nothing prepared here" about a branch prepared a moment later.
   */
  commitRecordsReadAfterListing?: boolean
  /** The coordinator prepares read-only branches too (MySQL forgets them when the owner leaves). */
  prepareReadOnlyBranches?: boolean
  /** The coordinator rolls back when decide fails for any reason, not only on the PK conflict. */
  rollbackOnDecideError?: boolean
  /** Abort records expire while their coordinator may still decide (retention too short). */
  expireAbortsEarly?: boolean
  /**
   * A commit point's statement sent into a connection that then broke is taken for one
   * never sent (src/transaction/branch.ts checks the connection before sending, not after),
   * and the caller hears "aborted".
   */
  sentTakenForUnsent?: boolean
}

export interface ModelScope {
  name: string
  shards: readonly ShardSpec[]
  /** The shard holding `shardtx_log`. */
  logShard: string
  transactions: readonly TxPlan[]
  recoverers: number
  /** Budget shared by crashes of any actor (coordinator, recoverer, shard) and lost replies. */
  failures: number
  /** A statement takes effect but its reply is lost: the caller sees an error. Costs one failure. */
  lostReplies: boolean
  /**
   * A recoverer lists the shards in every order (they are listed in parallel)
   * instead of in shard order. Costs states; the larger scope turns it on.
   */
  listInAnyOrder?: boolean
  /**
   * What the coordinator does when the decision write fails with a connection
   * error (the log shard died, or the reply was lost), so the write may or may
   * not have taken effect:
   * - `in-doubt` (the protocol as first designed): report in doubt, leave it to recovery.
   * - `fence` (src/protocol/coordinator.ts `decide` before the model check): fence its own
   *   tx from a fresh connection and go by what that reads; in doubt only if the
   *   fence fails. The model finds this unsound: see docs/model-check.md, "Findings".
   * - `fence-and-check` (the default: src/protocol/coordinator.ts `decide` now): the same,
   *   but an abort read there is taken as proof only once a ROLLBACK PREPARED found
   *   a branch still prepared; else in doubt.
   */
  decideError?: 'in-doubt' | 'fence' | 'fence-and-check'
  bugs?: SeededBugs
}

const pgLog = { name: 'L', kind: 'pg' } as const
const s1 = { name: 'S1', kind: 'pg' } as const
const s2 = { name: 'S2', kind: 'mysql' } as const

const writes = (shard: string) => ({ shard, writes: true })
const reads = (shard: string) => ({ shard, writes: false })

/** Two written branches, the log shard not among them: the commit point is an autocommit insert on L. */
export const autocommitDecision: TxPlan = { touches: [writes('S1'), writes('S2')] }
/** L wrote too: the commit record goes into L's open branch, whose one-phase commit is the commit point. It also reads S2. */
export const decisionInLogBranch: TxPlan = { touches: [writes('L'), reads('S2'), writes('S1')] }
/** Three written branches, one of them the log shard's. */
export const threeWritten: TxPlan = { touches: [writes('L'), writes('S1'), writes('S2')] }
/** One written branch plus a read-only one: one-phase commit, no log record. */
export const onePhase: TxPlan = { touches: [reads('S1'), writes('S2')] }

const base = { shards: [pgLog, s1, s2], logShard: 'L', recoverers: 2, failures: 1, lostReplies: true } as const

/**
 * The CI scope: one failure (a crash of any actor, or a lost reply). Single
 * transactions run against two concurrent recoverers; pairs of transactions
 * against one, which keeps the whole scope to a few seconds.
 */
export const quickScopes: readonly ModelScope[] = [
  { ...base, name: 'autocommit-decision', transactions: [autocommitDecision] },
  { ...base, name: 'autocommit-decision/in-doubt', transactions: [autocommitDecision], decideError: 'in-doubt' },
  { ...base, name: 'decision-in-log-branch', transactions: [decisionInLogBranch] },
  { ...base, name: 'decision-in-log-branch/in-doubt', transactions: [decisionInLogBranch], decideError: 'in-doubt' },
  { ...base, name: 'three-written', transactions: [threeWritten] },
  { ...base, name: 'two-transactions/1-recoverer', transactions: [autocommitDecision, decisionInLogBranch], recoverers: 1 },
  { ...base, name: 'one-phase-beside-two-phase/1-recoverer', transactions: [onePhase, autocommitDecision], recoverers: 1 },
]

/**
 * The flag-gated scope: two failures, recoverers listing shards in any order,
 * and two transactions against two recoverers. (The log shard's kind changes
 * nothing: it never holds a prepared branch, so it is not varied.)
 */
export const largeScopes: readonly ModelScope[] = [
  { ...base, name: 'autocommit-decision/2-failures', transactions: [autocommitDecision], failures: 2, listInAnyOrder: true },
  { ...base, name: 'decision-in-log-branch/2-failures', transactions: [decisionInLogBranch], failures: 2, listInAnyOrder: true },
  { ...base, name: 'three-written/2-failures', transactions: [threeWritten], failures: 2, listInAnyOrder: true },
  {
    ...base,
    name: 'autocommit-decision/in-doubt/2-failures',
    transactions: [autocommitDecision],
    failures: 2,
    listInAnyOrder: true,
    decideError: 'in-doubt',
  },
  {
    ...base,
    name: 'decision-in-log-branch/in-doubt/2-failures',
    transactions: [decisionInLogBranch],
    failures: 2,
    listInAnyOrder: true,
    decideError: 'in-doubt',
  },
  { ...base, name: 'two-transactions/2-failures/1-recoverer', transactions: [autocommitDecision, decisionInLogBranch], recoverers: 1, failures: 2 },
  { ...base, name: 'one-phase-beside-two-phase', transactions: [onePhase, autocommitDecision] },
  { ...base, name: 'two-transactions', transactions: [autocommitDecision, decisionInLogBranch] },
]

export function scopesNamed(name: string): readonly ModelScope[] {
  if (name === 'quick') return quickScopes
  if (name === 'large') return largeScopes
  throw new Error(`unknown scope "${name}": use quick or large`)
}
