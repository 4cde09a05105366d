/**
 * The model check of the commit and recovery protocol (docs/model-check.md).
 * CI runs the quick scope; `SHARDTX_MODEL_SCOPE=large` runs the larger one.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { check, formatViolation, type CheckResult } from './explorer.js'
import { Model } from './model.js'
import { quickScopes, scopesNamed } from './model-scope.js'
import { followSteps, successorsByLabel } from './trace.js'

const scopeName = process.env.SHARDTX_MODEL_SCOPE === 'large' ? 'large' : 'quick'
const scopes = scopesNamed(scopeName)
const results = new Map<string, CheckResult>()

/**
 * States each scope explored when last counted (docs/model-check.md). The
 * exploration is deterministic, so a smaller count means the model lost
 * behaviours (a step that no longer fires, a failure no longer injected) and
 * checks less than it claims. A model that grows raises these, and the docs.
 */
const MIN_STATES: Record<string, number> = {
  'autocommit-decision': 32_978,
  'autocommit-decision/in-doubt': 32_460,
  'decision-in-log-branch': 9_620,
  'decision-in-log-branch/in-doubt': 9_222,
  'three-written': 38_452,
  'two-transactions/1-recoverer': 171_799,
  'one-phase-beside-two-phase/1-recoverer': 15_947,
  'autocommit-decision/2-failures': 402_271,
  'decision-in-log-branch/2-failures': 120_152,
  'three-written/2-failures': 488_736,
  'autocommit-decision/in-doubt/2-failures': 384_977,
  'decision-in-log-branch/in-doubt/2-failures': 109_833,
  'two-transactions/2-failures/1-recoverer': 992_174,
  'one-phase-beside-two-phase': 182_284,
  'two-transactions': 5_812_766,
}

describe(`model check, ${scopeName} scope`, () => {
  beforeAll(() => {
    for (const scope of scopes) results.set(scope.name, check(scope, { coverage: true }))
  }, scopeName === 'large' ? 3_600_000 : 120_000)

  for (const scope of scopes) {
    it(`${scope.name}: every invariant holds and recovery always completes`, () => {
      const result = results.get(scope.name)!
      if (result.violation) expect.fail(formatViolation(result.violation))
      expect(result.quiescentStates).toBeGreaterThan(0)
      expect(MIN_STATES[scope.name], `no minimum state count for ${scope.name}`).toBeDefined()
      expect(result.states).toBeGreaterThanOrEqual(MIN_STATES[scope.name]!)
    })
  }

  // A model where a step can never happen checks nothing about it.
  it('takes every protocol step and reaches every outcome that matters', () => {
    const taken = [...results.values()].flatMap((r) => [...(r.stepsTaken ?? [])])
    const expected = [
      'openBranch(S1) write(S1) openBranch(S2): shard down → abort',
      'commitOnePhase(S2); finishReadOnly(S1)',
      'commitOnePhase(S2): committed, reply lost → in doubt',
      'commitOnePhase(S2): connection broke first, not sent → abort',
      'prepareBranch(S2)',
      'prepareBranch(S1): prepared, reply lost → abort',
      'checkDeadline: expired → abort',
      'checkDeadline: in time; decide: commit record inserted → committed',
      'checkDeadline: in time; decide: PK conflict with abort record → abort',
      'checkDeadline: in time; decide: L down → in doubt',
      'checkDeadline: in time; decide: inserted, reply lost → in doubt',
      'checkDeadline: in time; decide: inserted, reply lost → fence',
      'checkDeadline: in time; insertDecisionInBranch',
      'checkDeadline: in time; insertDecisionInBranch: PK conflict with abort record → abort',
      'checkDeadline: in time; insertDecisionInBranch: connection broke first, not sent → abort',
      'commitLogBranch → committed; finishReadOnly(S2)',
      'commitLogBranch: committed, reply lost → in doubt',
      'commitLogBranch: L branch lost → fence',
      'fence(T1): conflict, reads commit → committed',
      'fence(T1): abort record inserted → roll back, then check',
      'fence(T1): conflict, reads abort → roll back, then check',
      'commitPrepared(S1)',
      'commitPrepared(S2): failed (left to recovery)',
      'forget',
      'rollbackBranch(S2)',
      'crash',
      'restart',
      'readCommitRecords → [T1]',
      'listPrepared(S2) → [T1]',
      'listPrepared(S1): shard down',
      'judgeAge(T1): too young, skip',
      'judgeAge(T1): old; fence(T1): abort record inserted',
      'judgeAge(T1): old; fence(T1): conflict, record exists',
      'judgeAge(T1): old; fence(T1): L down, skip',
      'readDecision(T1) = commit',
      'readDecision(T1) = abort',
      'readDecision(T1) = none (record vanished), fence again',
      'resolveBranch(S1, T1): COMMIT PREPARED',
      'resolveBranch(S1, T1): ROLLBACK PREPARED',
      'resolveBranch(S2, T1): XAER_NOTA (owner connected), skip',
      'resolveBranch(S1, T1): no such branch',
      'forgetCommitted(T1)',
    ]
    expect(expected.filter((step) => !taken.includes(step))).toEqual([])
  })
})

describe('model semantics', () => {
  // The in-doubt variant: its coordinator reports in doubt on a lost decision write, so the
  // recoverer's side of that story can be followed step by step.
  const m = new Model(quickScopes.find((s) => s.name === 'decision-in-log-branch/in-doubt')!)
  const labels = (s: Uint8Array) => [...successorsByLabel(m, s).keys()]

  it('a fence waits while the commit record is uncommitted in the log branch, then reads commit', () => {
    const blocked = followSteps(m, [
      'C1.openBranch(L) write(L) openBranch(S2) openBranch(S1) write(S1)',
      'C1.prepareBranch(S1)',
      'R1.readCommitRecords → []',
      'R1.listPrepared(L) → []',
      'R1.listPrepared(S1) → [T1]',
      'R1.listPrepared(S2) → []',
      'C1.checkDeadline: in time; insertDecisionInBranch',
    ])
    expect(labels(blocked).filter((l) => l.startsWith('R1.judgeAge(T1): old'))).toEqual([])
    const committed = followSteps(m, ['C1.commitLogBranch → committed; finishReadOnly(S2)'], blocked)
    expect(labels(committed)).toContain('R1.judgeAge(T1): old; fence(T1): conflict, record exists')
  })

  it('a log shard crash drops the uncommitted record: the fence goes through and the coordinator is in doubt', () => {
    const s = followSteps(m, [
      'C1.openBranch(L) write(L) openBranch(S2) openBranch(S1) write(S1)',
      'C1.prepareBranch(S1)',
      'C1.checkDeadline: in time; insertDecisionInBranch',
      'L.crash',
      'C1.commitLogBranch: L branch lost → in doubt',
      'L.restart',
      'R1.readCommitRecords → []',
      'R1.listPrepared(L) → []',
      'R1.listPrepared(S1) → [T1]',
      'R1.listPrepared(S2) → []',
      'R1.judgeAge(T1): old; fence(T1): abort record inserted',
      'R1.readDecision(T1) = abort',
    ])
    expect(labels(s)).toContain('R1.resolveBranch(S1, T1): ROLLBACK PREPARED')
  })
})
