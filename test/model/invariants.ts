import { at, type Model } from './model.js'
import { Branch, LogRecord, Verdict } from './state-codes.js'

/**
 * The safety invariants, checked on every reachable state. `decision` is the
 * first record the log ever held for the tx (a ghost that outlives forget), so
 * "committed although the decision is abort" is caught even after cleanup.
 * Returns a description of the first broken invariant.
 */
export function brokenInvariant(m: Model, s: Uint8Array): string | undefined {
  for (let t = 0; t < m.T; t++) {
    const tx = `T${t + 1}`
    let committed: string | undefined
    let rolledBack: string | undefined
    for (const k of m.tx[t]!.participants) {
      const b = at(s, m.branchAt(t, k))
      if (b === Branch.Committed) committed ??= m.shard(k)
      if (b === Branch.RolledBack) rolledBack ??= m.shard(k)
    }
    if (committed && rolledBack) return `atomicity: ${tx} committed on ${committed} but rolled back on ${rolledBack}`
    const decision = at(s, m.decisionAt(t))
    if (decision === LogRecord.Abort && committed) return `${tx} committed on ${committed} although the log's decision is abort`
    if (decision === LogRecord.Commit && rolledBack) return `${tx} rolled back on ${rolledBack} although the log's decision is commit`
    const verdict = at(s, m.verdictAt(t))
    if (verdict === Verdict.Committed && rolledBack) return `${tx} reported committed to its caller but rolled back on ${rolledBack}`
    if (verdict === Verdict.Aborted && committed) return `${tx} reported aborted to its caller but committed on ${committed}`
  }
  return undefined
}

/**
 * What must hold once recovery has run to completion with nothing failing:
 * nothing left prepared, no commit record left behind, and every transaction
 * reported committed committed on every participant.
 */
export function unfinishedAfterRecovery(m: Model, s: Uint8Array): string | undefined {
  const broken = brokenInvariant(m, s)
  if (broken) return broken
  for (let t = 0; t < m.T; t++) {
    const tx = `T${t + 1}`
    for (let k = 0; k < m.K; k++) {
      const b = at(s, m.branchAt(t, k))
      if (b === Branch.Prepared || b === Branch.PreparedOwned) return `${tx} still prepared on ${m.shard(k)} after recovery`
    }
    if (at(s, m.logAt(t)) === LogRecord.Commit) return `stale commit record of ${tx} left after recovery`
    if (at(s, m.verdictAt(t)) === Verdict.Committed) {
      for (const k of m.tx[t]!.participants) {
        if (at(s, m.branchAt(t, k)) !== Branch.Committed) return `${tx} reported committed but not committed on ${m.shard(k)} after recovery`
      }
    }
  }
  return undefined
}
