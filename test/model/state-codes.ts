/**
 * The small integers the model stores in its state vector. One byte each, so a
 * state is a short byte string and two states are equal exactly when their
 * encodings are.
 */

/** A branch of one transaction on one shard, as the shard sees it. */
export const Branch = {
  None: 0,
  /** Begun and not prepared: dies with its session or with the server. */
  Open: 1,
  /** The log shard's open branch holding the uncommitted commit record (and its PK row lock). */
  OpenWithRecord: 2,
  /** Prepared; survives disconnect and server crash. */
  Prepared: 3,
  /** Prepared on a MySQL-like shard while the preparing connection is still open: others get XAER_NOTA. */
  PreparedOwned: 4,
  Committed: 5,
  RolledBack: 6,
  /** A read-only branch ended locally; carries no durable state. */
  Finished: 7,
} as const

/** The committed row of `shardtx_log` for one transaction. */
export const LogRecord = { None: 0, Commit: 1, Abort: 2 } as const

/** What the coordinator told its caller. */
export const Verdict = { None: 0, Committed: 1, Aborted: 2, InDoubt: 3 } as const

/**
 * Where a coordinator is. The numbers only grow along any run of one
 * coordinator, which the recovery-completion check relies on as a progress measure.
 */
export const CoordinatorPhase = {
  Work: 0,
  OnePhase: 1,
  Prepare: 2,
  Decide: 3,
  CommitLogBranch: 4,
  /** The decision write lost its connection: the coordinator fences its own tx to learn the outcome. */
  FenceAfterDecideError: 5,
  CommitPrepared: 6,
  Forget: 7,
  Abort: 8,
  Done: 9,
  Crashed: 10,
} as const

/** Where a recoverer is in its round; `Idle` between rounds (and after a crash). */
export const RecovererStage = {
  Idle: 0,
  ListPrepared: 1,
  /** judgeAge, then fence: judging is local, so it happens in the same step as the fence it allows. */
  JudgeAndFence: 2,
  ReadDecision: 3,
  ResolveBranch: 4,
  ReadCommitRecords: 5,
  ForgetCommitted: 6,
} as const

export const branchName = ['none', 'open', 'open+record', 'prepared', 'prepared(owned)', 'committed', 'rolled back', 'finished'] as const
export const verdictName = ['none', 'committed', 'aborted', 'in doubt'] as const
export const recordName = ['none', 'commit', 'abort'] as const
