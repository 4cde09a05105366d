import { brokenInvariant, unfinishedAfterRecovery } from './invariants.js'
import { Model } from './model.js'
import type { ModelScope } from './model-scope.js'
import { isQuiescent, progress, soloRecoveryRound } from './recovery-completion.js'
import { StepKind } from './successors.js'
import { describeState, formatTrace, replay } from './trace.js'
import { StateStore } from './state-store.js'
import { canonicalize, successors } from './transitions.js'

export interface Violation {
  /** `invariant`: a reachable state breaks a safety invariant. `recovery`: recovery, run to completion from a reachable state, ends wrong or cannot end. */
  kind: 'invariant' | 'recovery'
  message: string
  /** Step names with actor ids, from the initial state to the violation. */
  steps: string[]
  /** The state the trace ends in, one line per transaction. */
  state: string[]
}

export interface CheckResult {
  scope: string
  states: number
  transitions: number
  quiescentStates: number
  ms: number
  violation?: Violation
  /** With `coverage`: every step taken anywhere, without its actor id (e.g. `decide: PK conflict with abort record → abort`). */
  stepsTaken?: Set<string>
}

export interface CheckOptions {
  /** Stop (and throw) beyond this many states: a scope too large for the machine. */
  maxStates?: number
  /** Collect `stepsTaken`, to show the scope really exercises a step or an outcome. */
  coverage?: boolean
}

/**
 * Explores every state of `scope` breadth-first (so a counterexample is a
 * shortest one), with a visited set of canonical encodings. Checks the safety
 * invariants on every state and the recovery-completion property
 * (recovery-completion.ts) from every state; stops at the first violation.
 */
export function check(scope: ModelScope, options: CheckOptions = {}): CheckResult {
  const maxStates = options.maxStates ?? 20_000_000
  const m = new Model(scope)
  const started = performance.now()
  const store = new StateStore(m.size)
  let parents = new Int32Array(1 << 16)
  let transitions = 0
  let quiescentStates = 0
  let found: { at: number; kind: Violation['kind']; message: string; extra: string[] } | undefined
  const stepsTaken = options.coverage ? new Set<string>() : undefined

  const visit = (n: Uint8Array, from: number) => {
    canonicalize(m, n)
    const count = store.count
    const id = store.intern(n)
    if (id < count) return
    if (id >= maxStates) throw new Error(`scope ${scope.name}: more than ${maxStates} states`)
    if (id >= parents.length) {
      const grown = new Int32Array(parents.length * 2)
      grown.set(parents)
      parents = grown
    }
    parents[id] = from
    const broken = found ? undefined : brokenInvariant(m, n)
    if (broken) found = { at: id, kind: 'invariant', message: broken, extra: [] }
  }

  visit(m.initial(), -1)
  for (let i = 0; i < store.count && !found; i++) {
    const s = store.get(i)
    const before = progress(m, s)
    let completionSteps = 0
    let stalled: string | undefined
    successors(m, s, {
      add(label, n, kind) {
        transitions++
        stepsTaken?.add(label.slice(label.indexOf('.') + 1))
        if (kind === StepKind.Progress) {
          completionSteps++
          if (stalled === undefined && progress(m, n) <= before) stalled = label
        }
        visit(n, i)
      },
    })
    if (found) break
    if (stalled !== undefined) {
      found = { at: i, kind: 'recovery', message: `step ${stalled} makes no progress: completion might not end`, extra: [] }
    } else if (isQuiescent(m, s)) {
      quiescentStates++
      const round = soloRecoveryRound(m, s)
      const unfinished = unfinishedAfterRecovery(m, round.end)
      if (unfinished) found = { at: i, kind: 'recovery', message: unfinished, extra: ['-- nothing fails any more; one recovery round --', ...round.steps] }
    } else if (completionSteps === 0) {
      found = { at: i, kind: 'recovery', message: 'stuck: nothing can move although work is unfinished', extra: [] }
    }
  }

  const result: CheckResult = { scope: scope.name, states: store.count, transitions, quiescentStates, ms: performance.now() - started }
  if (stepsTaken) result.stepsTaken = stepsTaken
  if (found) {
    const path: Uint8Array[] = []
    for (let id = found.at; id >= 0; id = parents[id]!) path.push(store.get(id))
    path.reverse()
    const { steps, last } = replay(m, path)
    let end = last
    if (found.extra.length > 0) end = soloRecoveryRound(m, last).end
    result.violation = { kind: found.kind, message: found.message, steps: [...steps, ...found.extra], state: describeState(m, end) }
  }
  return result
}

export function formatViolation(v: Violation): string {
  const where = v.kind === 'invariant' ? 'invariant broken' : 'recovery, run to completion, ends wrong'
  return [`${where}: ${v.message}`, formatTrace(v.steps), 'final state:', ...v.state.map((l) => `  ${l}`)].join('\n')
}
