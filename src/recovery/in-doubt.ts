import type { ClusterRuntime } from '../cluster-runtime.js'
import { ConfigError, NoSuchInDoubtTransactionError, ShardTxError, ShardUnavailableError } from '../errors.js'
import { parseTransactionId } from '../protocol/ids/transaction-id.js'
import { rejectUnknownKeys } from '../config/validate.js'
import type { Decision } from '../protocol/participant.js'
import { emptyReport, groupByLog, listInDoubt, logIdOf, type RecoveryReport, resolveBranch } from './recovery.js'

/**
 * A prepared branch of ours, as `cluster.inDoubt()` lists it.
 *
 * ```ts
 * for (const b of await cluster.inDoubt()) console.log(b.txId, b.shardId, b.ageMs, b.decision)
 * ```
 */
export interface InDoubtBranch {
  txId: string
  shardId: string
  /** ms since the coordinator started the transaction (by the id), or since PREPARE (PostgreSQL). */
  ageMs: number | undefined
  /** The logged decision, or undefined when there is none yet (presumed abort once abandoned). */
  decision: Decision | undefined
}

export async function listInDoubtBranches(rt: ClusterRuntime): Promise<InDoubtBranch[]> {
  const failed: RecoveryReport['failed'] = []
  const home = rt.log.shardId
  const { inDoubt, logOf } = await listInDoubt(rt, { failed }, home)
  if (failed.length > 0) {
    throw new ShardUnavailableError(
      failed[0]!.shardId,
      `could not list in-doubt branches on ${failed.map((f) => `${f.shardId} (${f.error})`).join(', ')}`,
    )
  }
  // Each branch's decision is read on the log its shard's fence names, as recovery decides it.
  const decisions = new Map<string, Decision>()
  for (const [logId, group] of groupByLog(inDoubt, logOf, home)) {
    if (!rt.participants.has(logId)) throw new ConfigError('shards', `a shard's fence names log shard ${logId}, which this process has no connection for`)
    for (const r of await rt.logs.of(logId).read([...group.keys()])) decisions.set(`${logId}/${r.txId}`, r.decision)
  }
  const now = Date.now()
  const list: InDoubtBranch[] = []
  for (const [txId, branches] of inDoubt) {
    const startedAt = parseTransactionId(txId)?.startedAt
    for (const b of branches) {
      const since = b.preparedAt ?? startedAt
      const decision = decisions.get(`${logIdOf(b.shardId, logOf, home)}/${txId}`)
      list.push({ txId, shardId: b.shardId, ageMs: since === undefined ? undefined : now - since, decision })
    }
  }
  return list.sort((a, b) => (b.ageMs ?? 0) - (a.ageMs ?? 0))
}

/**
 * Options of `cluster.resolve()`.
 *
 * ```ts
 * await cluster.resolve(txId, 'abort', { force: true })
 * ```
 */
export interface ResolveOptions {
  /**
   * Fence an `abort` even when no shard holds a branch of the transaction and the log has
   * no record of it. For a transaction whose coordinator may still be alive where you
   * cannot see it (a process on the far side of a partition, hung before its PREPAREs
   * reached any shard you can list): the abort record makes its commit insert fail, so it
   * can never commit. Without `force` such an id is refused, since it is most often a typo.
   */
  force?: boolean
}

/** An operator's decision for one transaction, taken through the log's fence. */
export async function resolveByHand(
  rt: ClusterRuntime,
  txId: string,
  wanted: Decision,
  options: ResolveOptions = {},
): Promise<RecoveryReport> {
  if (typeof txId !== 'string' || parseTransactionId(txId) === undefined) {
    throw new ShardTxError(`${shownArgument(txId)} is not a shardtx transaction id`, { code: 'INVALID_ARGUMENT' })
  }
  if (wanted !== 'commit' && wanted !== 'abort') {
    throw new ShardTxError(`decision must be 'commit' or 'abort', not ${shownArgument(wanted)}`, { code: 'INVALID_ARGUMENT' })
  }
  const force = (options as ResolveOptions | null)?.force
  if (options === null || typeof options !== 'object' || (force !== undefined && typeof force !== 'boolean')) {
    throw new ConfigError('options.force', 'must be true or false, in an options object like { force: true }')
  }
  rejectUnknownKeys('options', options, ['force'])
  const report = emptyReport()
  const home = rt.log.shardId
  const { inDoubt, logOf } = await listInDoubt(rt, report, home)
  const branches = inDoubt.get(txId) ?? []
  // The log that decides this transaction's branches: the one their shards' fences name
  // (docs/moving-the-log.md); with no branch in sight, the log in force.
  const logs = [...new Set(branches.map((b) => logIdOf(b.shardId, logOf, home)))]
  if (logs.length > 1) {
    rt.topology.invalidate()
    throw new ShardTxError(`the branches of ${txId} are on shards fenced by different logs (${logs.join(', ')}): the log is moving; try again`, {
      code: 'LOG_MOVING',
      retryable: true,
    })
  }
  const logId = logs[0] ?? home
  if (!rt.participants.has(logId)) throw new ConfigError('shards', `the fence of the shards of ${txId} names log shard ${logId}, which this process has no connection for`)
  const log = rt.logs.of(logId)
  const logged = (await log.read([txId]))[0]?.decision
  // Only when every shard answered: a branch may be on a shard that did not (then the
  // fence is what keeps it from committing, and the report names the shard).
  if (branches.length === 0 && logged === undefined && report.failed.length === 0 && force !== true) {
    throw new NoSuchInDoubtTransactionError(txId)
  }
  let decision: Decision
  if (wanted === 'commit') {
    // Without a commit record nobody knows that every branch was prepared: committing the
    // ones in sight could commit half a transaction. Presumed abort says it never committed.
    if (logged !== 'commit') {
      throw new ShardTxError(
        `transaction ${txId} has ${logged === 'abort' ? 'an abort record' : 'no commit record'}; it did not commit and cannot be committed by hand`,
        { code: 'CONTRADICTS_DECISION' },
      )
    }
    decision = 'commit'
  } else {
    decision = logged ?? (await log.fence(txId, branches.map((b) => b.shardId)))
    if (decision === 'commit') {
      throw new ShardTxError(`transaction ${txId} has a commit record; it committed and cannot be aborted`, {
        code: 'CONTRADICTS_DECISION',
      })
    }
  }
  await Promise.all(branches.map((branch) => resolveBranch(rt, report, branch, decision, new Set())))
  return report
}

/** A bad argument as an error message shows it: quoted, cut at 80 characters, whatever its type. */
function shownArgument(value: unknown): string {
  if (typeof value === 'symbol') return 'a symbol'
  if (typeof value !== 'string') return value === null ? 'null' : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
}
