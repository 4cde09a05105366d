import { coordinatorProgress } from './coordinator-steps.js'
import { at, Model } from './model.js'
import { recovererProgress, recovererSteps } from './recoverer-steps.js'
import { CoordinatorPhase, RecovererStage } from './state-codes.js'
import { StepKind } from './successors.js'

/**
 * The liveness check: "once coordinators and recoverers stop crashing, every
 * prepared branch is eventually resolved". From any reachable state, let
 * nothing fail any more: down shards restart, coordinators and recoverers
 * finish what they are doing (no crash, no lost reply, no new round, no
 * "too young"). The explorer checks two things:
 *
 * 1. Every such completion step makes progress (`progress` grows) and a state
 *    that is not yet quiescent always has one: so every completion ends, and
 *    ends in a quiescent state. Those are reachable, so the explorer sees them all.
 * 2. From every quiescent state, one recovery round, alone and with every
 *    transaction old enough, leaves nothing prepared and no commit record
 *    (`unfinishedAfterRecovery`).
 */
export function progress(m: Model, s: Uint8Array): number {
  let p = 0
  for (let t = 0; t < m.T; t++) p += coordinatorProgress(m, s, t)
  for (let r = 0; r < m.R; r++) p += recovererProgress(m, s, r)
  for (let k = 0; k < m.K; k++) p += at(s, 1 + k)
  return p
}

/** Every coordinator has finished or died, every recoverer is between rounds, every shard is up. */
export function isQuiescent(m: Model, s: Uint8Array): boolean {
  for (let t = 0; t < m.T; t++) {
    const phase = at(s, m.phaseAt(t))
    if (phase !== CoordinatorPhase.Done && phase !== CoordinatorPhase.Crashed) return false
  }
  for (let r = 0; r < m.R; r++) if (at(s, m.recAt(r) + Model.STAGE) !== RecovererStage.Idle) return false
  for (let k = 0; k < m.K; k++) if (!m.up(s, k)) return false
  return true
}

/** Runs one full round of recoverer R1 alone from a quiescent state, nothing failing. */
export function soloRecoveryRound(m: Model, s: Uint8Array): { steps: string[]; end: Uint8Array } {
  const steps: string[] = []
  let cur = s
  for (let guard = 0; guard < 1000; guard++) {
    let next: Uint8Array | undefined
    recovererSteps(m, cur, 0, {
      add(label, n, kind) {
        const wanted = guard === 0 ? kind === StepKind.StartRound : kind === StepKind.Progress
        if (next === undefined && wanted) {
          next = n
          steps.push(label)
        }
      },
    })
    if (next === undefined) throw new Error(`recoverer R1 is stuck after ${steps.join(', ')}`)
    cur = next
    if (at(cur, m.recAt(0) + Model.STAGE) === RecovererStage.Idle) return { steps, end: cur }
  }
  throw new Error('a recovery round did not end')
}
