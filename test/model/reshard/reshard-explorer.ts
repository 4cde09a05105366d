import { finished, successors } from './reshard-model.js'
import type { ReshardScope } from './reshard-scope.js'
import { encode, initialState, type ReshardState } from './reshard-state.js'

export interface ReshardVerdict {
  states: number
  transitions: number
  ms: number
  violation: string | undefined
  /** The steps from the initial state to the violation (shortest: breadth-first). */
  trace: string[]
  /** Every run that cannot go on ended with the job over, nothing prepared and no writer stuck. */
  alwaysFinishes: boolean
  /** A state with no step that is not finished, if any (the first found). */
  stuck: string | undefined
  /** Labels of every step taken at least once (for "this behaviour is reachable" assertions). */
  labels: Set<string>
}

/** Breadth-first over every interleaving; parents are kept as indices, states by their encoding. */
export function checkReshard(scope: ReshardScope): ReshardVerdict {
  const t0 = Date.now()
  const start = initialState(scope)
  const index = new Map<string, number>([[encode(start), 0]])
  const parent: number[] = [-1]
  const via: number[] = [-1]
  const labelIds = new Map<string, number>()
  const labelNames: string[] = []
  const queue: Array<ReshardState | undefined> = [start]
  let transitions = 0
  let alwaysFinishes = true
  let stuck: string | undefined
  const traceTo = (at: number): string[] => {
    const steps: string[] = []
    for (let x = at; parent[x]! >= 0; x = parent[x]!) steps.push(labelNames[via[x]!]!)
    return steps.reverse()
  }
  for (let head = 0; head < queue.length; head++) {
    const s = queue[head]!
    queue[head] = undefined
    const next = successors(scope, s)
    if (next.length === 0 && !finished(scope, s)) {
      alwaysFinishes = false
      stuck ??= traceTo(head).join('\n')
    }
    for (const { label, next: n } of next) {
      transitions++
      let id = labelIds.get(label)
      if (id === undefined) {
        id = labelNames.length
        labelIds.set(label, id)
        labelNames.push(label)
      }
      const key = encode(n)
      // A step whose only change is the violation it finds encodes like a state already seen: never skip it.
      if (index.has(key) && n.violation === undefined) continue
      const at = parent.length
      index.set(key, at)
      parent.push(head)
      via.push(id)
      if (n.violation !== undefined) {
        return { states: index.size, transitions, ms: Date.now() - t0, violation: n.violation, trace: traceTo(at), alwaysFinishes, stuck, labels: new Set(labelNames) }
      }
      queue.push(n)
    }
  }
  return { states: index.size, transitions, ms: Date.now() - t0, violation: undefined, trace: [], alwaysFinishes, stuck, labels: new Set(labelNames) }
}
