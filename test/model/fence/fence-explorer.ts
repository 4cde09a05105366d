import { type FenceState, initialState, successors } from './fence-model.js'
import type { FenceScope } from './fence-scope.js'

export interface FenceVerdict {
  states: number
  violation: string | undefined
  /** The steps from the initial state to the violation. */
  trace: string[]
  /** Every run ended with the change published and no writer stuck. */
  alwaysFinishes: boolean
}

/** Breadth-first over every interleaving; states are small, so they are keyed by their JSON. */
export function checkFence(scope: FenceScope): FenceVerdict {
  const start = initialState(scope)
  const parent = new Map<string, { from: string; label: string } | null>([[JSON.stringify(start), null]])
  const queue: FenceState[] = [start]
  let alwaysFinishes = true
  for (let head = 0; head < queue.length; head++) {
    const s = queue[head]!
    const key = JSON.stringify(s)
    const next = successors(scope, s)
    if (next.length === 0 && s.violation === undefined && !finished(s)) alwaysFinishes = false
    for (const { label, next: n } of next) {
      const nk = JSON.stringify(n)
      if (parent.has(nk)) continue
      parent.set(nk, { from: key, label })
      if (n.violation !== undefined) return { states: parent.size, violation: n.violation, trace: traceTo(parent, nk), alwaysFinishes }
      queue.push(n)
    }
  }
  return { states: parent.size, violation: undefined, trace: [], alwaysFinishes }
}

function finished(s: FenceState): boolean {
  return (s.mover === 'published' || (s.mover === 'crashed' && s.active === 2)) && s.writers.every((w) => w.phase === 'done' || (w.phase === 'idle' && w.left === 0))
}

function traceTo(parent: Map<string, { from: string; label: string } | null>, key: string): string[] {
  const steps: string[] = []
  for (let at = parent.get(key); at; at = parent.get(at.from)) steps.push(at.label)
  return steps.reverse()
}
