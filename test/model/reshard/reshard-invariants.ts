import { KEY_NAMES, SHARD_NAMES, type ReshardScope } from './reshard-scope.js'
import { allTxs, owner, writerNames, type ReshardState } from './reshard-state.js'

/**
 * The data invariants, on every state. Checked where they happen instead: in
 * writer-steps.ts, a write applied at its owner, under an epoch not older than the
 * shard's fence (but for the job start's raise), finding its row; in fan-out-steps.ts,
 * a fan-out statement updating every row exactly once; in reshard-state.ts, fences
 * never falling and no write lost to a move (a MOVE's delete committing over a row
 * holding more than its copy read); in mover-steps.ts, epochs published one by one and
 * no forward batch after a reverse one; in reshard-model.ts, no topology left frozen
 * once everything is over.
 *
 * - No row lost: every key has a committed row somewhere, or a prepared branch that
 *   will insert it.
 * - Once no batch is in flight (no mover branch prepared anywhere, so every
 *   committed batch has committed on every shard), every key is on exactly one
 *   shard, its owner under the published epoch, and its row holds every write that
 *   committed.
 */
export function violatedInvariant(scope: ReshardScope, s: ReshardState): string | undefined {
  const txs = allTxs(s)
  const settled = !txs.some((t) => t.branches.some((b) => b.prepared))
  for (let key = 0; key < scope.oldOwner.length; key++) {
    const on = [0, 1, 2].filter((shard) => s.rows[shard]![key]! >= 0)
    const k = KEY_NAMES[key]
    if (on.length === 0 && !txs.some((t) => t.branches.some((b) => b.prepared && b.insert[key]! >= 0))) return `row ${k} lost: on no shard, and no prepared branch inserts it`
    if (!settled) continue
    const belongs = owner(scope, s, key)
    if (on.length > 1) return `row ${k} on ${on.map((x) => SHARD_NAMES[x]).join(' and ')} with no batch in flight (owner at epoch ${s.published}: ${SHARD_NAMES[belongs]})`
    const at = on[0]!
    if (at !== belongs) return `row ${k} on ${SHARD_NAMES[at]}, but its owner at epoch ${s.published} is ${SHARD_NAMES[belongs]}: routed reads miss it`
    const missing = s.committedWrites[key]! & ~s.rows[at]![key]!
    if (missing !== 0) {
      return `a committed write of ${writerNames(missing)} to ${k} is lost: the row on ${SHARD_NAMES[at]} does not hold it`
    }
  }
  return undefined
}
