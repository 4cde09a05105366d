/**
 * Moving the log (docs/moving-the-log.md) as a model: coordinators at epoch 1
 * (log L) and, after a refusal and a reload, at epoch 2 (log M); a mover whose
 * one two-phase transaction holds every fence and switches the log; a recoverer
 * that loaded epoch 1 and never reloads; crashes of coordinators and of the mover.
 * Invariants: atomicity (no transaction committed on one shard and rolled back on
 * another), no epoch-2 transaction decided on the old log, and every run that
 * cannot go on ends settled with fences and stored topology at one epoch. Each
 * seeded bug must be caught, with its trace.
 */
import { describe, expect, it } from 'vitest'
import { checkMoveLog } from './movelog/movelog-explorer.js'
import { type MoveLogBugs, moveLogScopes } from './movelog/movelog-scope.js'

describe('the log-move model', () => {
  it.each(moveLogScopes.map((s) => [s.name, s] as const))('%s: the invariants hold in every interleaving, and every run ends settled', (_, scope) => {
    const verdict = checkMoveLog(scope)
    expect(verdict.violation).toBeUndefined()
    expect(verdict.stuck).toBeUndefined()
    expect(verdict.alwaysFinishes).toBe(true)
    expect(verdict.states).toBeGreaterThan(10_000)
    console.log(`${scope.name}: ${verdict.states} states, ${verdict.transitions} transitions, ${Math.round(verdict.ms)} ms`)
  })

  const bugs: ReadonlyArray<{ bug: keyof MoveLogBugs; broken: RegExp; trace: RegExp }> = [
    { bug: 'recovererUsesOwnLog', broken: /of epoch 2 was decided \(abort\) on the old log L/, trace: /uses its own log L \(seeded bug\)/ },
    { bug: 'moveSkipsHoldOfX', broken: /of epoch 2 was decided \(abort\) on the old log L|committed on one shard and rolled back on another/, trace: /X never held: seeded bug/ },
    { bug: 'fenceReadBeforeListing', broken: /of epoch 2 was decided \(abort\) on the old log L/, trace: /before listing: seeded bug/ },
  ]
  it.each(bugs)('catches the seeded bug $bug', ({ bug, broken, trace }) => {
    const verdict = checkMoveLog({ ...moveLogScopes[0]!, bugs: { [bug]: true } })
    expect(verdict.violation).toMatch(broken)
    expect(verdict.trace.join('\n')).toMatch(trace)
    console.log(`${bug} (${verdict.trace.length} steps, ${verdict.states} states):\n  ${verdict.trace.join('\n  ')}\n  → ${verdict.violation}`)
  })
})
