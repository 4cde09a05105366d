/**
 * The resharding model (test/model/reshard/): one batch move at a time racing stale
 * writers, their commits and recovery, movers killed between any two of their steps
 * (their prepared branches settled by recovery), a second mover, and a cancel with
 * reverse. Invariants: no row lost, no row on two shards once no batch is in flight,
 * no write applied at a shard that is not the key's owner when it commits, no
 * committed write lost, fences never fall, epochs published one by one, no forward
 * batch after a reverse one. Each seeded bug must be caught, with its trace.
 */
import { describe, expect, it } from 'vitest'
import { checkReshard, type ReshardVerdict } from './reshard/reshard-explorer.js'
import { reshardScopes, type ReshardBugs, type ReshardScope } from './reshard/reshard-scope.js'

const scope = (name: string): ReshardScope => reshardScopes.find((s) => s.name === name)!

/** Exact today (the exploration is deterministic); a model that loses behaviours explores fewer states. */
const minimumStates: Record<string, number> = {
  'pg-mysql-pg/2-failures': 23_990,
  'mysql-pg-mysql': 9_535,
  'reverse/pg-mysql-pg': 41_071,
  'two-movers': 36_288,
}

const clean = new Map<string, ReshardVerdict>()
const verdict = (name: string): ReshardVerdict => {
  if (!clean.has(name)) clean.set(name, checkReshard(scope(name)))
  return clean.get(name)!
}

/** Expects a violation matching `broken` whose trace holds each of `steps` in order, and prints it. */
function expectCounterexample(title: string, model: ReshardScope, broken: RegExp, steps: readonly RegExp[]): ReshardVerdict {
  const v = checkReshard(model)
  expect(v.violation, `${title} went unnoticed in ${v.states} states`).toBeDefined()
  console.log(`${title} (${model.name}), ${v.states} states, ${v.trace.length} steps:\n  ${v.trace.map((s, i) => `${i + 1}. ${s}`).join('\n  ')}\n  → ${v.violation}\n`)
  expect(v.violation).toMatch(broken)
  let from = 0
  for (const step of steps) {
    const at = v.trace.findIndex((s, i) => i >= from && step.test(s))
    expect(at, `step ${step} in the trace`).toBeGreaterThanOrEqual(0)
    from = at + 1
  }
  return v
}

describe('the resharding model', () => {
  it.each(reshardScopes.map((s) => [s.name] as const))('%s: every invariant holds in every interleaving, and every run can finish', (name) => {
    const v = verdict(name)
    expect(v.violation, v.trace.join('\n')).toBeUndefined()
    expect(v.alwaysFinishes, v.stuck).toBe(true)
    expect(v.states).toBeGreaterThanOrEqual(minimumStates[name]!)
  })

  it('takes every step that matters: refusals, timeouts, lost compare-and-sets, crashes with prepared branches, both verdicts of recovery', () => {
    const labels = reshardScopes.flatMap((s) => [...verdict(s.name).labels])
    const reached = [
      /^W\d\.begin\(.*\): refused, fence at \d → reload$/,
      /^W\d\.restart: loadTopology/,
      /^W\d\.crash after PREPARE: in doubt$/,
      /^recover\(W\d\): COMMIT PREPARED/,
      /^recover\(W\d\): ROLLBACK PREPARED/,
      /^M\d\.hold\([ABC]\): timed out/,
      /^M\d\.crash: .*, \d prepared left to recovery$/,
      /^recover\(crashed mover tx \d\): COMMIT PREPARED/,
      /^recover\(crashed mover tx \d\): ROLLBACK PREPARED/,
      /^M\d\.writeLog: compare-and-set done \d → \d found/,
      /^M\d\.writeLog: compare-and-set on the job's state: cancelled found/,
      /^M\d\.writeLog: topology row \d exists \(primary key\)/,
      /^M\d\.writeLog: the job row exists \(primary key\)/,
      /^M\d\.writeLog: job row locked, timed out/,
      /^M\d\.writeLog: compare-and-set done \d → \d where cancelled/,
      /^M\d\.copy\(k\d, [ABC] → [ABC]\): no row$/,
      /^O\.cancel/,
    ]
    for (const step of reached) expect(labels.some((l) => step.test(l)), `${step} is never taken`).toBe(true)
  })

  it('the job start does not drain: on MariaDB a write prepared before it commits after the fence rose, on a shard that still owns its key', () => {
    expect([...verdict('mysql-pg-mysql').labels].some((l) => /^W\d\.commit\(A\) after its fence rose to 2$/.test(l))).toBe(true)
  })
})

describe('seeded bugs: the resharding model finds each with a counterexample', () => {
  const cases: ReadonlyArray<{ bug: keyof ReshardBugs; scenario: string; broken: RegExp; steps: RegExp[] }> = [
    {
      bug: 'neverRefuse',
      scenario: 'pg-mysql-pg/2-failures',
      broken: /a write of k1 under epoch 1 applied on A, but its owner at epoch 3 is B/,
      steps: [/^M1\.decide: .*topology row 3 published/, /^W1\.begin\(A, k1, epoch 1\): fence 3 passed/, /^W1\.commit\(A\)/],
    },
    {
      bug: 'refuseOnlyTwoBehind',
      scenario: 'pg-mysql-pg/2-failures',
      broken: /a write of k1 under epoch 2 applied on A, but its owner at epoch 3 is B/,
      steps: [/^M1\.decide: .*topology row 3 published/, /^W1\.begin\(A, k1, epoch 2\): fence 3 passed/, /^W1\.commit\(A\)/],
    },
    {
      bug: 'raiseDestinationOnly',
      scenario: 'pg-mysql-pg/2-failures',
      broken: /a write of k1 under epoch 2 applied on A, but its owner at epoch 3 is B/,
      steps: [/^M1\.writeLog: .*raise B to 3$/, /^W1\.begin\(A, k1, epoch 2\): fence 2 passed/, /^W1\.commit\(A\)/],
    },
    {
      bug: 'skipPreparedDrain',
      scenario: 'pg-mysql-pg/2-failures',
      broken: /a committed write of W2 to k2 is lost: the row on C does not hold it/,
      steps: [/^W2\.prepare\(B\): its shared fence lock is released$/, /^M1\.hold\(B\), drain skipped/, /^M1\.copy\(k2, B → C\): upsert$/, /^W2\.commit\(B\)/, /^M1\.delete\(k2, B\)$/],
    },
    {
      bug: 'skipDoneCas',
      scenario: 'two-movers',
      broken: /row k2 on C, but its owner at epoch 5 is B/,
      steps: [/^M2\.readJob → done 0: batch 1 forward$/, /^M1\.decide: .*topology row 4 published/, /^M2\.readTopology → epoch 4$/, /^M2\.writeLog: set done = 1 \(no compare, seeded bug\)/],
    },
  ]
  it.each(cases)('$bug ($scenario)', ({ bug, scenario, broken, steps }) => {
    expectCounterexample(`seeded bug ${bug}`, { ...scope(scenario), bugs: { [bug]: true } }, broken, steps)
  })

  // A batch that does not raise its destination's fence breaks nothing the model checks: a
  // stale process never routes the batch's keys to the destination (they were not its keys
  // under any epoch the destination still accepts), and the source's raise refuses it there.
  it.each(reshardScopes.filter((s) => s.writers.length > 0).map((s) => [s.name] as const))('not raising the destination is harmless for writes (%s)', (name) => {
    expect(checkReshard({ ...scope(name), bugs: { raiseSourceOnly: true } }).violation).toBeUndefined()
  })

  // A locking copy read waits for the prepared writer's row lock like the delete does, so it
  // copies the committed write: the drain protects a snapshot copy, not a locking one.
  it('skipping the drain is caught with a snapshot copy read only', () => {
    expect(checkReshard({ ...scope('pg-mysql-pg/2-failures'), copyRead: 'locking', bugs: { skipPreparedDrain: true } }).violation).toBeUndefined()
    expect(checkReshard({ ...scope('mysql-pg-mysql'), copyRead: 'locking', bugs: { skipPreparedDrain: true } }).violation).toBeUndefined()
  })
})

describe('found by the resharding model, not seeded', () => {
  // Issue #18's batch compares `done` only. A mover that read done = 0 and then the epoch
  // after a cancel and a complete reverse finds done = 0 again (ABA) and a free topology
  // row: the cancelled, reversed job moves forward again. Repaired in the model's default
  // (`jobCas: 'done-and-state'`), and by reading the epoch with the job row (the topology
  // row's primary key then refuses it).
  it("a compare-and-set on `done` alone lets a stale mover move a reversed job forward again", () => {
    expectCounterexample("jobCas: 'done'", { ...scope('two-movers'), jobCas: 'done' }, /batch 1 moves forward again after the reverse moved batches back \(done 0 → 1\)/, [
      /^M2\.readJob → done 0: batch 1 forward$/,
      /^O\.cancel \(done 1\)$/,
      /^M1\.writeLog: compare-and-set done 1 → 0;/,
      /^M2\.readTopology → epoch 4$/,
      /^M2\.writeLog: compare-and-set done 0 → 1;/,
    ])
  })
})
