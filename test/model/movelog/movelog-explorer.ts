import { initialState, type MoveLogState, successors, unfinished } from './movelog-model.js'
import type { MoveLogScope } from './movelog-scope.js'
import type { ReshardVerdict } from '../reshard/reshard-explorer.js'

/** What the resharding model's explorer answers, but the labels: `stuck` is the trace to a run that cannot finish, and why. */
export type MoveLogVerdict = Omit<ReshardVerdict, 'labels'>

/** Breadth-first over every interleaving (a counterexample is a shortest one); states are keyed by their JSON. */
export function checkMoveLog(scope: MoveLogScope): MoveLogVerdict {
  const started = performance.now()
  const start = initialState(scope)
  const parent = new Map<string, { from: string; label: string } | null>([[JSON.stringify(start), null]])
  const queue: MoveLogState[] = [start]
  let transitions = 0
  for (let head = 0; head < queue.length; head++) {
    const s = queue[head]!
    const key = JSON.stringify(s)
    const next = successors(scope, s)
    if (next.length === 0) {
      const why = unfinished(s)
      if (why !== undefined) {
        const stuck = `${traceTo(parent, key).join('\n')}\n→ unsettled: ${why}`
        return { states: parent.size, transitions, ms: performance.now() - started, violation: undefined, trace: [], alwaysFinishes: false, stuck }
      }
    }
    for (const { label, next: n } of next) {
      transitions++
      const nk = JSON.stringify(n)
      if (parent.has(nk)) continue
      parent.set(nk, { from: key, label })
      if (n.violation !== undefined) {
        return { states: parent.size, transitions, ms: performance.now() - started, violation: n.violation, trace: traceTo(parent, nk), alwaysFinishes: true, stuck: undefined }
      }
      queue.push(n)
    }
  }
  return { states: parent.size, transitions, ms: performance.now() - started, violation: undefined, trace: [], alwaysFinishes: true, stuck: undefined }
}

function traceTo(parent: Map<string, { from: string; label: string } | null>, key: string): string[] {
  const steps: string[] = []
  for (let at = parent.get(key); at; at = parent.get(at.from)) steps.push(at.label)
  return steps.reverse()
}
