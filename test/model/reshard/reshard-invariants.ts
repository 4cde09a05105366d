import { KEY_NAMES, SHARD_NAMES, type ReshardScope } from './reshard-scope.js'
import { allTxs, owner, type ReshardState } from './reshard-state.js'

/**
 * The data invariants, on every state (the write-at-owner check is where a write
 * commits, in writer-steps.ts; fences never falling and epochs published one by one
 * are checked where they change, in reshard-state.ts and mover-steps.ts).
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
      const who = s.writers.map((_, i) => i).filter((i) => (missing & (1 << i)) !== 0).map((i) => `W${i + 1}`)
      return `a committed write of ${who.join(', ')} to ${k} is lost: the row on ${SHARD_NAMES[at]} does not hold it`
    }
  }
  return undefined
}
