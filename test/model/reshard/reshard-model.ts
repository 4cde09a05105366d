import { fanOutSteps } from './fan-out-steps.js'
import { moverSteps, operatorSteps, recoverySteps } from './mover-steps.js'
import { violatedInvariant } from './reshard-invariants.js'
import type { ReshardScope } from './reshard-scope.js'
import { clone, type ReshardState } from './reshard-state.js'
import { writerSteps } from './writer-steps.js'

export interface Step {
  label: string
  next: ReshardState
}

/** Every step any actor can take from `s`; a step that breaks an invariant carries it in `next.violation`. */
export function successors(scope: ReshardScope, s: ReshardState): Step[] {
  if (s.violation !== undefined) return []
  const out: Step[] = []
  const add = (label: string, change: (n: ReshardState) => void): void => {
    const n = clone(s)
    change(n)
    if (n.violation === undefined) {
      const broken = violatedInvariant(scope, n)
      if (broken !== undefined) n.violation = `after ${label}: ${broken}`
    }
    out.push({ label, next: n })
  }
  s.writers.forEach((_, i) => writerSteps(scope, s, i, add))
  s.fanOuts.forEach((_, j) => fanOutSteps(scope, s, j, add))
  s.movers.forEach((_, i) => moverSteps(scope, s, i, add))
  recoverySteps(s, add)
  operatorSteps(scope, s, add)
  return out
}

/** Nothing left to do: the job finished (or, cancelled, moved back), no topology left frozen, no prepared branch left, every writer done. */
export function finished(scope: ReshardScope, s: ReshardState): boolean {
  const jobOver = s.jobDone >= 0 && (s.cancelled ? s.jobDone === 0 || !scope.reverse : s.jobDone === scope.batches.length)
  return (
    jobOver &&
    s.epochMoving[s.published]! < 0 &&
    s.orphans.length === 0 &&
    s.movers.every((m) => m.pc === 'idle' && m.tx === null) &&
    s.writers.every((w) => w.phase === 'done' || (w.phase === 'idle' && w.left === 0)) &&
    s.fanOuts.every((f) => f.phase === 'done')
  )
}
