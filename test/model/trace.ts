import { at, type Model } from './model.js'
import { Branch, branchName, CoordinatorPhase, recordName, verdictName } from './state-codes.js'
import { canonicalize, successors } from './transitions.js'

/**
 * Turns a path of canonical states (from the initial one) back into the steps that connect them.
 * Canonical states may have swapped recoverer names, so the steps are found
 * again from real (unsorted) states: every id in the trace means one actor.
 */
export function replay(m: Model, path: readonly Uint8Array[]): { steps: string[]; last: Uint8Array } {
  const steps: string[] = []
  let cur: Uint8Array = path[0]!.slice()
  for (const target of path.slice(1)) {
    let found: { label: string; n: Uint8Array } | undefined
    successors(m, cur, {
      add(label, n) {
        if (found) return
        const c = n.slice()
        canonicalize(m, c)
        if (sameBytes(c, target)) found = { label, n }
      },
    })
    if (!found) throw new Error(`trace replay lost its way after ${steps.join(', ')}`)
    steps.push(found.label)
    cur = found.n
  }
  return { steps, last: cur }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** One line per transaction: where each branch is, the log row, what the caller heard. */
export function describeState(m: Model, s: Uint8Array): string[] {
  const lines: string[] = []
  for (let t = 0; t < m.T; t++) {
    const branches: string[] = []
    for (let k = 0; k < m.K; k++) {
      const b = at(s, m.branchAt(t, k))
      if (b !== Branch.None) branches.push(`${m.shard(k)} ${branchName[b]}`)
    }
    const phase = at(s, m.phaseAt(t))
    const coordinator = phase === CoordinatorPhase.Crashed ? 'crashed' : phase === CoordinatorPhase.Done ? 'done' : 'running'
    lines.push(
      `T${t + 1}: ${branches.join(', ') || 'no branch'}; log ${recordName[at(s, m.logAt(t))]} ` +
        `(decision ${recordName[at(s, m.decisionAt(t))]}); caller told ${verdictName[at(s, m.verdictAt(t))]}; C${t + 1} ${coordinator}`,
    )
  }
  const down = m.names.filter((_, k) => !m.up(s, k))
  if (down.length > 0) lines.push(`down: ${down.join(' ')}`)
  return lines
}

export function formatTrace(steps: readonly string[]): string {
  const width = String(steps.length).length
  return steps.map((step, i) => `${String(i + 1).padStart(width)}. ${step}`).join('\n')
}

/**
 * Takes the named steps one after another from `from` (the initial state by
 * default): a readable way to drive the model into a situation in a test.
 */
export function followSteps(m: Model, labels: readonly string[], from: Uint8Array = m.initial()): Uint8Array {
  let cur = from
  for (const wanted of labels) {
    const next = successorsByLabel(m, cur).get(wanted)
    if (!next) throw new Error(`no step "${wanted}"; possible: ${[...successorsByLabel(m, cur).keys()].join(' | ')}`)
    cur = next
  }
  return cur
}

/** Every step possible from `s`, by label. */
export function successorsByLabel(m: Model, s: Uint8Array): Map<string, Uint8Array> {
  const steps = new Map<string, Uint8Array>()
  successors(m, s, {
    add(label, n) {
      steps.set(label, n)
    },
  })
  return steps
}
