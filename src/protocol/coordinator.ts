import type { Branch } from '../transaction/branch.js'
import type { ClusterRuntime } from '../cluster-runtime.js'
import {
  isRetryable,
  ShardUnresponsiveError,
  TransactionAbortedError,
  TransactionInDoubtError,
  TransactionTimeoutError,
} from '../errors.js'
import { msUntil } from './deadline.js'
import { fenceWithin } from './fence-within.js'
import { lostConnection } from './lost-connection.js'
import { UnsentStatementError } from './unsent-statement.js'
import type { Decision, DecisionRecord } from './participant.js'
import type { CommitPath } from './protocol-steps.js'
import type { TransactionLog } from './transaction-log.js'
import type { TransactionContext as Transaction } from '../transaction/transaction-context.js'

/**
 * Commits a transaction whose callback succeeded: the commit protocol of
 * docs/protocol.md ("Commit"), step by step. Resolves when the transaction is committed; throws
 * {@link TransactionAbortedError} when it is rolled back everywhere and
 * {@link TransactionInDoubtError} when this process cannot learn the outcome.
 *
 * Every statement runs under a bound (docs/protocol.md, "Liveness"): PREPARE within
 * the transaction's deadline, the decision within `timeouts.decision`, the commit
 * phase within `timeouts.commit`, ending or rolling back within `timeouts.rollback`.
 *
 * Each step is reported before it is taken (`rt.step`), and the report is awaited
 * only when an `onStep` hook answered with a promise: without a hook it is
 * undefined, and `await undefined` would still cost a promise and a turn of the
 * microtask queue at each of the six steps of every two-phase commit.
 */
export async function commitTransaction(rt: ClusterRuntime, tx: Transaction): Promise<CommitPath> {
  tx.setState('committing')
  const branches = tx.openedBranches().filter((b) => b.endIfNeverBegun())
  const written = branches.filter((b) => b.wrote)
  // Read-only branches are never prepared (a prepared read-only XA branch is not even
  // persisted: 1402 later); ending them does not wait for the written ones.
  const readersBy = Date.now() + rt.config.timeouts.rollbackMs
  const readersDone = Promise.all(branches.filter((b) => !b.wrote).map((b) => finishReadOnly(tx, b, readersBy)))
  try {
    if (written.length === 0) {
      rt.stats.commits.readOnly++
      return 'read-only'
    }
    if (written.length === 1) {
      await commitOnePhase(rt, tx, written[0]!)
      return 'one-phase'
    }
    await commitTwoPhase(rt, tx, written)
    return 'two-phase'
  } finally {
    await readersDone
  }
}

/**
 * Rolls back every opened branch by `deadline` (ms since epoch); never throws (a
 * branch it cannot reach is left to its server, or to presumed abort once prepared).
 */
export async function rollbackTransaction(rt: ClusterRuntime, tx: Transaction, deadline: number): Promise<void> {
  tx.setState('rolling back')
  const branches = tx.openedBranches()
  await abortAll(rt, tx, branches, branches.length > 0, deadline)
}

// Step 2: at most one branch wrote.
async function commitOnePhase(rt: ClusterRuntime, tx: Transaction, branch: Branch): Promise<void> {
  const committingOnePhaseHook = rt.step({ step: 'one-phase', txId: tx.id, shardId: branch.shardId })
  if (committingOnePhaseHook !== undefined) await committingOnePhaseHook
  try {
    // The one-phase COMMIT is this transaction's commit point: it gets the decision's bound.
    await branch.commitOnePhase(rt.config.timeouts.decisionMs)
  } catch (error) {
    // Not sent (the connection had broken before it): the session can only roll back.
    if (lostConnection(branch.participant, error) && !(error instanceof UnsentStatementError)) {
      rt.stats.inDoubt++
      throw new TransactionInDoubtError(
        tx.id,
        `shard ${branch.shardId} lost its connection during a one-phase COMMIT; the server committed or rolled back on its own`,
        error,
      )
    }
    rt.stats.aborts++
    throw aborted(tx, `COMMIT failed on shard ${branch.shardId}`, branch.asConflict(error))
  }
  rt.stats.commits.onePhase++
}

// Step 3: two or more branches wrote.
async function commitTwoPhase(rt: ClusterRuntime, tx: Transaction, written: Branch[]): Promise<void> {
  // The log shard's branch is not prepared: the decision is written inside it and its
  // one-phase commit is the commit point, one round trip and one sync fewer.
  // The log of the topology this transaction routes by, not the process's latest: a log move
  // holds every fence, so a transaction whose branches passed them decides where they were
  // fenced (docs/moving-the-log.md).
  const log = rt.logs.of(tx.logShardId)
  const logBranch = written.find((b) => b.shardId === log.shardId)
  const toPrepare = logBranch === undefined ? written : written.filter((b) => b !== logBranch)

  // 3.1 Prepare every written branch in parallel. Any failure aborts.
  const prepares = await Promise.allSettled(toPrepare.map((b) => prepareBranch(rt, tx, b)))
  const failed = prepares.findIndex((p) => p.status === 'rejected')
  if (failed !== -1) {
    const error = (prepares[failed] as PromiseRejectedResult).reason
    await abortAll(rt, tx, written)
    const shardId = toPrepare[failed]!.shardId
    // PREPARE gets what is left of the transaction's timeout: missing that is the timeout's doing.
    if ((error instanceof ShardUnresponsiveError || error instanceof UnsentStatementError) && Date.now() >= tx.deadline) {
      const timedOut = new TransactionTimeoutError(`timed out during PREPARE on shard ${shardId}`)
      ;(timedOut as { cause?: unknown }).cause = error
      throw aborted(tx, timedOut.message, timedOut)
    }
    throw aborted(tx, `PREPARE failed on shard ${shardId}`, toPrepare[failed]!.asConflict(error))
  }
  // A coordinator past its deadline may already have been judged abandoned by a recoverer.
  const late = tx.abortReason ?? (Date.now() >= tx.deadline ? new TransactionTimeoutError('deadline passed before the decision') : undefined)
  if (late !== undefined) {
    await abortAll(rt, tx, written)
    throw aborted(tx, late.message, late)
  }

  // 3.2 Decide: the commit record is the commit point; its primary key is the fence.
  const record: DecisionRecord = {
    txId: tx.id,
    decision: 'commit',
    participants: written.map((b) => b.shardId),
    createdAt: Date.now(),
  }
  const decidingHook = rt.step({ step: 'decide', txId: tx.id })
  if (decidingHook !== undefined) await decidingHook
  const decision = await decide(rt, log, tx, record, logBranch, toPrepare)
  if (decision === 'fenced') {
    await abortAll(rt, tx, written)
    throw aborted(tx, 'a recoverer decided abort first (the commit record was fenced)', undefined)
  }
  rt.stats.commits.twoPhase++
  const decidedHook = rt.step({ step: 'decided', txId: tx.id, decision: 'commit' })
  if (decidedHook !== undefined) await decidedHook

  // 3.3 Commit the prepared branches in parallel. Failures no longer change the outcome, and
  // the caller waits no longer than the commit bound for them: recovery finishes the rest.
  const commitBy = Date.now() + rt.config.timeouts.commitMs
  const commits = await Promise.allSettled(toPrepare.map((b) => commitPreparedBranch(rt, tx, b, commitBy)))
  if (commits.some((c) => c.status === 'rejected')) {
    rt.stats.commitPhaseIncomplete++
    return
  }
  // 3.4 Forget, off the caller's path.
  rt.logs.forgetterOf(log.shardId).add(tx.id)
}

async function prepareBranch(rt: ClusterRuntime, tx: Transaction, branch: Branch): Promise<void> {
  const preparingHook = rt.step({ step: 'prepare', txId: tx.id, shardId: branch.shardId })
  if (preparingHook !== undefined) await preparingHook
  // The prepare phase is bounded by the transaction's timeout.
  await branch.prepare(msUntil(tx.deadline))
  const preparedHook = rt.step({ step: 'prepared', txId: tx.id, shardId: branch.shardId })
  if (preparedHook !== undefined) await preparedHook
}

/**
 * Writes the commit record. When the write's outcome is unknown (the connection
 * broke), fence the transaction from a fresh connection: whatever that reads is final.
 */
async function decide(
  rt: ClusterRuntime,
  log: TransactionLog,
  tx: Transaction,
  record: DecisionRecord,
  logBranch: Branch | undefined,
  prepared: Branch[],
): Promise<'committed' | 'fenced'> {
  try {
    if (logBranch === undefined) return await log.decideCommit(record)
    return await logBranch.commitWith(rt.config.timeouts.decisionMs, (conn, id) => log.decideCommitInBranch(conn, id, record))
  } catch (error) {
    // The server answered (a failed branch, a missing table), the autocommit insert never
    // left this process (log shard refusing connections, pool exhausted), or the log branch's
    // connection had broken before its INSERT + COMMIT was sent: nothing was committed.
    if (!lostConnection(log.participant, error) || error instanceof UnsentStatementError || (logBranch === undefined && log.participant.neverSent(error))) {
      await abortAll(rt, tx, prepared)
      const cause = logBranch === undefined ? error : logBranch.asConflict(error)
      throw aborted(tx, `the decision could not be written on log shard ${log.shardId}`, cause)
    }
    let decision: Decision
    try {
      decision = await fenceWithin(log, tx.id, record.participants, rt.config.timeouts.decisionMs, rt.closing)
    } catch (fenceError) {
      throw inDoubt(rt, log, tx, prepared, 'the decision could not be written or read', [error, fenceError])
    }
    if (decision === 'commit') return 'committed'
    // An abort record stands now, yet the lost write may have committed, been seen by a
    // recoverer that committed every branch, and been forgotten before the fence ran (found
    // by the model check). A branch still prepared proves that did not happen: a commit
    // record is only forgotten once no branch is prepared. Without one, nobody can tell.
    if (await rollbackAnyPrepared(rt, tx, prepared)) return 'fenced'
    throw inDoubt(rt, log, tx, prepared, 'the decision write was lost and no prepared branch was left to prove an abort', [error])
  }
}

/** Rolls back the branches still prepared; true when at least one was (so none had committed). */
async function rollbackAnyPrepared(rt: ClusterRuntime, tx: Transaction, branches: Branch[]): Promise<boolean> {
  const prepared = branches.filter((b) => b.state === 'prepared')
  const deadline = Date.now() + rt.config.timeouts.rollbackMs
  return (await Promise.all(prepared.map((b) => rollbackBranch(tx, b, deadline)))).includes(true)
}

/**
 * The outcome is unknown to this process; recovery settles it. Prepared branches stay
 * prepared, and MySQL only lets others finish them once the preparing connection is gone,
 * so those connections are closed rather than pooled.
 */
function inDoubt(rt: ClusterRuntime, log: TransactionLog, tx: Transaction, prepared: Branch[], reason: string, errors: unknown[]): TransactionInDoubtError {
  rt.stats.inDoubt++
  for (const branch of prepared) branch.leavePreparedToRecovery()
  return new TransactionInDoubtError(
    tx.id,
    `${reason} on log shard ${log.shardId}`,
    errors.length === 1 ? errors[0] : new AggregateError(errors, reason),
  )
}

async function commitPreparedBranch(rt: ClusterRuntime, tx: Transaction, branch: Branch, deadline: number): Promise<void> {
  const committingHook = rt.step({ step: 'commit', txId: tx.id, shardId: branch.shardId })
  if (committingHook !== undefined) await committingHook
  try {
    await branch.commitPrepared(msUntil(deadline))
  } catch (error) {
    // Committed by decision all the same: the branch waits for recovery (its
    // connection was closed, not pooled, while the branch is prepared).
    tx.logger.warn({ err: error, shardId: branch.shardId }, 'COMMIT PREPARED failed; recovery will commit this branch')
    throw error
  }
  const committedHook = rt.step({ step: 'committed', txId: tx.id, shardId: branch.shardId })
  if (committedHook !== undefined) await committedHook
}

async function finishReadOnly(tx: Transaction, branch: Branch, deadline: number): Promise<void> {
  try {
    await branch.finishReadOnly(msUntil(deadline))
  } catch (error) {
    tx.logger.warn({ err: error, shardId: branch.shardId }, 'could not end a read-only branch; its connection was closed')
  }
}

/**
 * The `abort` step (reported unless `report` is false): every branch rolled back, in
 * parallel, by `deadline` (by default `timeouts.rollback` from now).
 */
async function abortAll(rt: ClusterRuntime, tx: Transaction, branches: Branch[], report = true, deadline?: number): Promise<void> {
  const abortingHook = report ? rt.step({ step: 'abort', txId: tx.id }) : undefined
  if (abortingHook !== undefined) await abortingHook
  const by = deadline ?? Date.now() + rt.config.timeouts.rollbackMs
  await Promise.all(branches.map((b) => rollbackBranch(tx, b, by)))
  rt.stats.aborts++
}

/** Rolls back one branch on its own connection by `deadline`; true when the server confirmed it. */
async function rollbackBranch(tx: Transaction, branch: Branch, deadline: number): Promise<boolean> {
  try {
    return await branch.rollback(msUntil(deadline))
  } catch (error) {
    // An unreachable prepared branch has no commit record: recovery rolls it back.
    tx.logger.warn({ err: error, shardId: branch.shardId }, 'rollback failed; the server or recovery will roll back')
    return false
  }
}

function aborted(tx: Transaction, reason: string, cause: unknown): TransactionAbortedError {
  return new TransactionAbortedError(tx.id, reason, cause, isRetryable(cause))
}
