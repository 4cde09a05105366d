import type { ClusterRuntime } from '../cluster-runtime.js'
import { ShardUnresponsiveError } from '../errors.js'
import { branchIdOf } from '../protocol/ids/branch-id.js'
import { parseTransactionId } from '../protocol/ids/transaction-id.js'
import type { Decision, DecisionRecord, PreparedBranch } from '../protocol/participant.js'
import type { TransactionLog } from '../protocol/transaction-log.js'

/**
 * One branch of one transaction on one shard.
 *
 * ```ts
 * for (const { txId, shardId } of (await cluster.recover()).committed) console.log(txId, shardId)
 * ```
 */
export interface BranchRef {
  txId: string
  shardId: string
}

/**
 * What one recovery round did.
 *
 * ```ts
 * const report = await cluster.recover()
 * console.log(report.committed.length, report.rolledBack.length, report.failed)
 * ```
 */
export interface RecoveryReport {
  /** Prepared branches committed because their transaction's decision is commit. */
  committed: BranchRef[]
  /** Prepared branches rolled back because their transaction's decision is abort (or none: presumed abort). */
  rolledBack: BranchRef[]
  /**
   * Branches left for a later round: `young` (the coordinator may still decide),
   * `busy` (its owner still holds it), `foreign` (not a shardtx transaction id).
   */
  skipped: (BranchRef & { reason: 'young' | 'busy' | 'foreign' })[]
  /** Shards (or single branches) that could not be reached; nothing was guessed for them. */
  failed: { shardId: string; txId?: string; error: string }[]
  /** Commit records deleted because every listed participant holds no prepared branch any more. */
  forgotten: number
  /** Abort records deleted after their retention. */
  expired: number
}

/** A report of a round that has done nothing yet. */
export function emptyReport(): RecoveryReport {
  return { committed: [], rolledBack: [], skipped: [], failed: [], forgotten: 0, expired: 0 }
}

/**
 * How a round works through the in-doubt transactions it found.
 */
export interface RoundPace {
  /** Workers settling batches side by side. */
  workers: number
  /**
   * Transactions per batch: one statement fences the batch's abandoned ones, then all
   * their branches are finished at once (each holds a pooled connection of its shard).
   */
  batch: number
  /**
   * Fraction of the time each worker spends settling: after a batch that took t ms
   * it pauses t·(1/dutyCycle − 1) ms. The pause grows with the servers' load, so a
   * background round yields to the application's own transactions; 1 never pauses.
   */
  dutyCycle: number
  /** Stops the round between batches; an interrupted round forgets no records. */
  signal?: AbortSignal
}

/** `cluster.recover()`: as fast as the servers allow, 64 transactions in flight. */
export const ON_DEMAND_PACE: RoundPace = { workers: 4, batch: 16, dutyCycle: 1 }
/** Background rounds keep four transactions in flight while they work, paced by `recovery.dutyCycle`. */
export const BACKGROUND_PACE: Omit<RoundPace, 'dutyCycle'> = { workers: 2, batch: 2 }

/**
 * One recovery round (docs/protocol.md, "Recovery"). Safe to run in any process, any
 * number at once: every decision goes through the log's primary-key fence.
 */
export async function recover(rt: ClusterRuntime, pace: RoundPace = ON_DEMAND_PACE): Promise<RecoveryReport> {
  const report = emptyReport()
  const now = Date.now()
  // The log in force when the round starts. A branch is decided on the log its shard's fence
  // names (read after the listing), which is this one unless the log moved (below).
  const home = rt.log

  // Commit records are read before the listings: a record committed before this read had
  // all its branches prepared before it, so the listings see whichever are still prepared.
  let commitRecords: DecisionRecord[]
  try {
    commitRecords = await home.read(undefined, 'commit')
  } catch (error) {
    report.failed.push({ shardId: home.shardId, error: describe(error) })
    // Nothing can be decided without the log, but the other shards are still listed, so
    // that the report names every shard that could not be reached, each with its reason.
    const listing: RecoveryReport['failed'] = []
    await listInDoubt(rt, { failed: listing }, home.shardId)
    report.failed.push(...listing.filter((f) => f.shardId !== home.shardId))
    return report
  }
  const decided = new Map<string, Decision>(commitRecords.map((r) => [r.txId, r.decision]))

  const { inDoubt, reached, logOf } = await listInDoubt(rt, report, home.shardId)
  const stillPrepared = new Set<string>()
  const work = await byLog(rt, report, home.shardId, decided, inDoubt, logOf, stillPrepared, pace.batch)
  // A shard that missed a statement's bound is not asked again this round: every further
  // statement would wait out the same bound. It is in `failed`; the next round tries again.
  const unresponsive = new Set<string>()
  const finished = await forEachPaced(work, pace, async ({ log, logged, batch }) => {
    const decisions = await decideBatch(rt, log, report, now, logged, batch, unresponsive)
    await Promise.all(
      batch.map(async ([txId, branches]) => {
        const decision = decisions.get(txId)
        if (decision === undefined) {
          for (const b of branches) stillPrepared.add(key(b))
          return
        }
        await Promise.all(branches.map((b) => resolveBranch(rt, report, b, decision, stillPrepared, unresponsive)))
      }),
    )
  })
  // Branches an interrupted round never reached are still prepared, and the commit
  // records they need must stay; the next round cleans up.
  if (!finished) return report

  report.forgotten = await forgetCommitted(home, report, commitRecords, reached, stillPrepared)
  try {
    report.expired = await home.expireAborts(now - rt.config.recovery.abortRetentionMs)
  } catch (error) {
    report.failed.push({ shardId: home.shardId, error: describe(error) })
  }
  return report
}

/** One batch of in-doubt transactions to decide on one log, with the decisions read there. */
interface LogBatch {
  log: TransactionLog
  logged: Map<string, Decision>
  batch: [string, PreparedBranch[]][]
}

/**
 * Splits the in-doubt branches by the log that decides them: the one their shard's
 * fence names (docs/moving-the-log.md). A fence read after the listing that names
 * the round's log means the branches listed there are of a topology that logs there
 * (a move to another log raises that fence first, and waits until no older branch is
 * left on the shard). One that names another log is a log move this process has not
 * followed yet (or one whose commit is reaching the shards): those branches are
 * decided on that log, whose records are read now (forgetting stays with the round's
 * own log, whose records were read before the listing), and the topology is reloaded.
 */
async function byLog(
  rt: ClusterRuntime,
  report: RecoveryReport,
  homeId: string,
  decided: Map<string, Decision>,
  inDoubt: Map<string, PreparedBranch[]>,
  logOf: Map<string, string>,
  stillPrepared: Set<string>,
  batchSize: number,
): Promise<LogBatch[]> {
  const work: LogBatch[] = []
  for (const [logId, group] of groupByLog(inDoubt, logOf, homeId)) {
    if (!rt.participants.has(logId)) {
      // A fence names a log shard this process cannot reach: nothing here can be decided by it.
      for (const [txId, branches] of group) {
        for (const b of branches) stillPrepared.add(key(b))
        report.failed.push({ shardId: logId, txId, error: `the fence of ${branches[0]!.shardId} names log shard ${logId}, which this process has no connection for` })
      }
      continue
    }
    const log = rt.logs.of(logId)
    let logged = decided
    if (logId !== homeId) {
      rt.logger.info({ log: homeId, fencedBy: logId }, 'a shard is fenced by another log: deciding its branches there and reloading the topology')
      // Off this round's path: the next round (and transaction) use the log the reload finds.
      rt.topology.invalidate()
      rt.topology.reload().catch((error: unknown) => rt.logger.warn({ err: error }, 'could not reload the topology after finding a fence of another log'))
      try {
        logged = new Map((await log.read([...group.keys()])).map((r) => [r.txId, r.decision]))
      } catch (error) {
        for (const [txId, branches] of group) {
          for (const b of branches) stillPrepared.add(key(b))
          report.failed.push({ shardId: logId, txId, error: describe(error) })
        }
        continue
      }
    }
    for (const batch of batchesOf([...group], batchSize)) work.push({ log, logged, batch })
  }
  return work
}

/** The log that decides a branch listed on `shardId`: the one its fence names, read after the listing; else the round's. */
export function logIdOf(shardId: string, logOf: ReadonlyMap<string, string>, homeId: string): string {
  return logOf.get(shardId) ?? homeId
}

/** The in-doubt branches by the log that decides them ({@link logIdOf}), then by transaction. */
export function groupByLog(
  inDoubt: ReadonlyMap<string, PreparedBranch[]>,
  logOf: ReadonlyMap<string, string>,
  homeId: string,
): Map<string, Map<string, PreparedBranch[]>> {
  const groups = new Map<string, Map<string, PreparedBranch[]>>()
  for (const [txId, branches] of inDoubt) {
    for (const branch of branches) {
      const logId = logIdOf(branch.shardId, logOf, homeId)
      let group = groups.get(logId)
      if (group === undefined) groups.set(logId, (group = new Map()))
      const listed = group.get(txId)
      if (listed === undefined) group.set(txId, [branch])
      else listed.push(branch)
    }
  }
  return groups
}

/** Lists our prepared branches on every shard, grouped by transaction, and the log each shard's fence names. */
export async function listInDoubt(
  rt: ClusterRuntime,
  report: Pick<RecoveryReport, 'failed'>,
  homeId: string = rt.log.shardId,
): Promise<{ inDoubt: Map<string, PreparedBranch[]>; reached: Set<string>; logOf: Map<string, string> }> {
  const inDoubt = new Map<string, PreparedBranch[]>()
  const reached = new Set<string>()
  const logOf = new Map<string, string>()
  await Promise.all(
    [...rt.participants.values()].map(async (participant) => {
      try {
        const listed = await participant.listPrepared()
        // Read after the listing, and only when there is something to decide: see byLog.
        if (listed.length > 0) logOf.set(participant.shardId, (await rt.fenceLogOf(participant.shardId)) ?? homeId)
        for (const branch of listed) {
          const list = inDoubt.get(branch.txId)
          if (list === undefined) inDoubt.set(branch.txId, [branch])
          else list.push(branch)
        }
        reached.add(participant.shardId)
      } catch (error) {
        report.failed.push({ shardId: participant.shardId, error: describe(error) })
      }
    }),
  )
  return { inDoubt, reached, logOf }
}

/**
 * The decisions for a batch of transactions. One with a commit record commits. One
 * without: once its coordinator's deadline (carried in its id) and the grace period
 * have passed, it is fenced, all such in the batch by one statement. The fence, not
 * the clock, is what makes this safe: a live coordinator's commit insert then fails.
 * Younger ones get no decision this round.
 */
async function decideBatch(
  rt: ClusterRuntime,
  log: TransactionLog,
  report: RecoveryReport,
  now: number,
  logged: Map<string, Decision>,
  batch: [string, PreparedBranch[]][],
  unresponsive: Set<string>,
): Promise<Map<string, Decision>> {
  const decisions = new Map<string, Decision>()
  const abandoned: { txId: string; participants: string[] }[] = []
  for (const [txId, branches] of batch) {
    const decision = logged.get(txId)
    if (decision !== undefined) {
      decisions.set(txId, decision)
      continue
    }
    const info = parseTransactionId(txId)
    if (info === undefined || now < info.deadline + rt.config.recovery.graceMs) {
      for (const b of branches) report.skipped.push({ txId, shardId: b.shardId, reason: info === undefined ? 'foreign' : 'young' })
    } else {
      abandoned.push({ txId, participants: branches.map((b) => b.shardId) })
    }
  }
  if (abandoned.length === 0) return decisions
  let fenced: Map<string, Decision>
  try {
    if (unresponsive.has(log.shardId)) throw new Error(STOPPED_ANSWERING)
    fenced = await log.fenceMany(abandoned)
  } catch (error) {
    if (error instanceof ShardUnresponsiveError) unresponsive.add(log.shardId)
    for (const { txId } of abandoned) report.failed.push({ shardId: log.shardId, txId, error: describe(error) })
    return decisions
  }
  for (const { txId } of abandoned) {
    const decision = fenced.get(txId)!
    try {
      await rt.step({ step: 'recover-fenced', txId, decision })
      decisions.set(txId, decision)
    } catch (error) {
      report.failed.push({ shardId: log.shardId, txId, error: describe(error) })
    }
  }
  return decisions
}

/** Finishes one prepared branch by the decision, recording what happened in the report. */
export async function resolveBranch(
  rt: ClusterRuntime,
  report: RecoveryReport,
  branch: PreparedBranch,
  decision: Decision,
  stillPrepared: Set<string>,
  unresponsive = new Set<string>(),
): Promise<void> {
  const participant = rt.participants.get(branch.shardId)!
  try {
    if (unresponsive.has(branch.shardId)) throw new Error(STOPPED_ANSWERING)
    const result = await participant.finishPrepared(branchIdOf(rt.config.prefix, branch.txId, branch.shardId), decision)
    if (result === 'busy') {
      stillPrepared.add(key(branch))
      report.skipped.push({ ...ref(branch), reason: 'busy' })
      return
    }
    if (result === 'done') {
      ;(decision === 'commit' ? report.committed : report.rolledBack).push(ref(branch))
      // Counted as each branch settles, so stats() shows a long paced round's progress.
      if (decision === 'commit') rt.stats.recovered.committed++
      else rt.stats.recovered.rolledBack++
      rt.logger.info({ txId: branch.txId, shardId: branch.shardId, decision }, 'recovery finished an in-doubt branch')
    }
    await rt.step({ step: 'recover-resolved', txId: branch.txId, shardId: branch.shardId, decision })
  } catch (error) {
    if (error instanceof ShardUnresponsiveError) unresponsive.add(branch.shardId)
    stillPrepared.add(key(branch))
    report.failed.push({ shardId: branch.shardId, txId: branch.txId, error: describe(error) })
  }
}

/**
 * Deletes a commit record only when every participant it lists was reached and holds
 * no prepared branch of it: a shard that is down may come back with the branch still
 * prepared, and without the record presumed abort would roll back a committed branch.
 */
async function forgetCommitted(
  log: TransactionLog,
  report: RecoveryReport,
  records: DecisionRecord[],
  reached: Set<string>,
  stillPrepared: Set<string>,
): Promise<number> {
  const done = records
    .filter((r) => r.participants.every((shardId) => reached.has(shardId) && !stillPrepared.has(`${r.txId}/${shardId}`)))
    .map((r) => r.txId)
  if (done.length === 0) return 0
  try {
    return await log.forget(done)
  } catch (error) {
    report.failed.push({ shardId: log.shardId, error: describe(error) })
    return 0
  }
}

const STOPPED_ANSWERING = 'not asked: the shard stopped answering earlier in this round'

function key(branch: BranchRef): string {
  return `${branch.txId}/${branch.shardId}`
}

function ref(branch: BranchRef): BranchRef {
  return { txId: branch.txId, shardId: branch.shardId }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function batchesOf<T>(items: T[], size: number): T[][] {
  const batches: T[][] = []
  for (let start = 0; start < items.length; start += size) batches.push(items.slice(start, start + size))
  return batches
}

/** Runs `work` over `items` at the given pace; false when the signal stopped it early. */
async function forEachPaced<T>(items: T[], pace: RoundPace, work: (item: T) => Promise<void>): Promise<boolean> {
  const { workers, dutyCycle, signal } = pace
  // Pausing workers wait here; one abort listener for the round wakes them all.
  const waiting = new Set<() => void>()
  signal?.addEventListener('abort', () => waiting.forEach((wake) => wake()), { once: true })
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted === true) return resolve()
      const wake = (): void => {
        clearTimeout(timer)
        waiting.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      waiting.add(wake)
    })
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length && signal?.aborted !== true) {
      const started = performance.now()
      await work(items[next++]!)
      if (dutyCycle < 1) await pause((performance.now() - started) * (1 / dutyCycle - 1))
    }
  }
  await Promise.all(Array.from({ length: Math.min(workers, items.length) }, worker))
  return next >= items.length
}
