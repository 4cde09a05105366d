import { at, type Model } from './model.js'
import { Branch } from './state-codes.js'
import { StepKind, type Successors } from './successors.js'

/**
 * A shard server crashing and restarting. Open branches (including the log
 * shard's branch with an uncommitted commit record) die with the server;
 * prepared branches and committed log rows survive; every connection drops,
 * so MySQL branches lose their owner.
 */
export function participantSteps(m: Model, s: Uint8Array, out: Successors): void {
  for (let k = 0; k < m.K; k++) {
    if (m.up(s, k)) {
      if (at(s, 0) === 0) continue
      const n = s.slice()
      n[0] = at(n, 0) - 1
      n[1 + k] = 0
      for (let t = 0; t < m.T; t++) {
        const i = m.branchAt(t, k)
        if (n[i] === Branch.Open || n[i] === Branch.OpenWithRecord) n[i] = Branch.RolledBack
        m.releaseOwner(n, t, k)
      }
      out.add(`${m.shard(k)}.crash`, n, StepKind.Fault)
    } else {
      const n = s.slice()
      n[1 + k] = 1
      out.add(`${m.shard(k)}.restart`, n, StepKind.Progress)
    }
  }
}
