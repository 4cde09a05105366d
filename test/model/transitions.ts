import { coordinatorSteps } from './coordinator-steps.js'
import { at, type Model } from './model.js'
import { participantSteps } from './participant-steps.js'
import { recovererSteps } from './recoverer-steps.js'
import type { Successors } from './successors.js'

/** Every step any actor can take from `s`: the interleaving semantics of the model. */
export function successors(m: Model, s: Uint8Array, out: Successors): void {
  for (let t = 0; t < m.T; t++) coordinatorSteps(m, s, t, out)
  for (let r = 0; r < m.R; r++) {
    // Recoverers are interchangeable: an identical earlier one already produced the same states.
    if (r > 0 && sameRecoverer(m, s, r - 1, r)) continue
    recovererSteps(m, s, r, out)
  }
  participantSteps(m, s, out)
}

function sameRecoverer(m: Model, s: Uint8Array, a: number, b: number): boolean {
  return compareRecoverers(m, s, a, b) === 0
}

function compareRecoverers(m: Model, s: Uint8Array, a: number, b: number): number {
  const ia = m.recAt(a)
  const ib = m.recAt(b)
  for (let i = 0; i < m.recSize; i++) {
    const d = at(s, ia + i) - at(s, ib + i)
    if (d !== 0) return d
  }
  return 0
}

/** Sorts the recoverer blocks in place: states that differ only by recoverer names become one. */
export function canonicalize(m: Model, s: Uint8Array): void {
  for (let r = 1; r < m.R; r++) {
    for (let q = r; q > 0 && compareRecoverers(m, s, q - 1, q) > 0; q--) {
      const a = m.recAt(q - 1)
      const b = m.recAt(q)
      const tmp = s.slice(a, a + m.recSize)
      s.copyWithin(a, b, b + m.recSize)
      s.set(tmp, b)
    }
  }
}
