/**
 * The epoch fence of docs/topology.md as a model: writers that route by a stale
 * epoch, an epoch change racing their commits, crashes (in-doubt branches settled
 * by recovery) and a mover killed half-way and run again. Invariant: no write
 * commits under an epoch other than its shard's at its commit, and none behind a
 * newer epoch's write. Each seeded bug must be caught, with its trace.
 */
import { describe, expect, it } from 'vitest'
import { checkFence } from './fence/fence-explorer.js'
import { fenceScopes, type FenceBugs } from './fence/fence-scope.js'

describe('the epoch fence model', () => {
  it.each(fenceScopes.map((s) => [s.name, s] as const))('%s: the invariant holds in every interleaving, and every run can finish', (_, scope) => {
    const verdict = checkFence(scope)
    expect(verdict.violation).toBeUndefined()
    expect(verdict.alwaysFinishes).toBe(true)
    expect(verdict.states).toBeGreaterThan(100)
  })

  const bugs: ReadonlyArray<{ bug: keyof FenceBugs; scope: string; broken: RegExp; trace: RegExp }> = [
    { bug: 'fenceReadWithoutLock', scope: 'pg-to-pg', broken: /under epoch 1 committed on A, whose fence is at epoch 2/, trace: /without its lock \(seeded bug\)/ },
    { bug: 'skipPreparedDrain', scope: 'mysql-to-pg', broken: /under epoch 1 committed on A, whose fence is at epoch 2/, trace: /W\d\.prepare\(A\)/ },
    { bug: 'publishBeforeAllRaised', scope: 'pg-to-pg', broken: /under epoch 1 committed after one under epoch 2/, trace: /before A is raised \(seeded bug\)/ },
  ]
  it.each(bugs)('catches the seeded bug $bug', ({ bug, scope, broken, trace }) => {
    const base = fenceScopes.find((s) => s.name === scope)!
    const verdict = checkFence({ ...base, bugs: { [bug]: true } })
    expect(verdict.violation).toMatch(broken)
    expect(verdict.trace.join('\n')).toMatch(trace)
    console.log(`${bug}:\n  ${verdict.trace.join('\n  ')}\n  → ${verdict.violation}`)
  })

  it('the prepared-branch drain matters only where PREPARE releases the fence lock', () => {
    const pg = fenceScopes.find((s) => s.name === 'pg-to-pg')!
    expect(checkFence({ ...pg, bugs: { skipPreparedDrain: true } }).violation).toBeUndefined()
  })
})
