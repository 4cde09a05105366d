import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Cluster,
  createCluster,
  type Dialect,
  type ProtocolStep,
  ShardUnavailableError,
  TransactionAbortedError,
  TransactionInDoubtError,
  TransactionTimeoutError,
} from '../../src/index.js'
import { type LocalCluster, type PartitionMode, startLocalCluster } from '../../src/testing/index.js'
import { pollUntil } from '../../src/testing/poll-until.js'
import { settle, StepFaults } from '../helpers/step-faults.js'

/**
 * Small bounds, so that a case waiting out each of them still takes about a second.
 * The test's own timeout is what catches a call that hangs; nothing here times one.
 */
export const SMALL_BOUNDS = {
  timeout: 1_500,
  maxWait: 1_000,
  connectTimeout: 800,
  timeouts: { decision: 800, commit: 400, rollback: 400, recovery: 800 },
  recovery: { enabled: false, graceMs: 0 },
} as const

/** Where the network breaks: a protocol step, or `callback` (in the middle of the caller's work). */
export type FaultPoint = ProtocolStep | 'callback'

const POINTS: FaultPoint[] = ['callback', 'prepare', 'prepared', 'decide', 'decided', 'commit', 'committed', 'forget', 'one-phase', 'abort']
const MODES: PartitionMode[] = ['blackhole', 'reset']
const ROLES = ['log shard', 'participant'] as const
type Role = (typeof ROLES)[number]

type Outcome = 'committed' | 'in doubt' | 'aborted' | 'timed out' | 'its own error' | 'shard unavailable'

/**
 * What the caller may get. The decision is the line: before it a fault aborts (or, when it
 * cuts the decision's own write, leaves the outcome in doubt); after it the caller gets success
 * and recovery finishes what the fault cut off.
 */
function expectedOutcomes(role: Role, mode: PartitionMode, point: FaultPoint): Outcome[] {
  switch (point) {
    case 'callback':
      // A black hole stalls the statement until the timeout; a reset fails it at once.
      return [mode === 'blackhole' ? 'timed out' : 'shard unavailable']
    case 'abort':
      return ['its own error']
    case 'one-phase':
      return cutCommitPoint(mode)
    case 'prepare':
    case 'prepared':
    case 'decide':
      // The log shard's branch carries the decision: cut off, the decision's fate is unknown.
      if (role === 'log shard') return cutCommitPoint(mode)
      // A PREPARE that never answers waits out what is left of the transaction's timeout.
      if (point === 'prepare') return [mode === 'blackhole' ? 'timed out' : 'aborted']
      return ['committed']
    default:
      return ['committed']
  }
}

/**
 * The commit point's own connection cut. A black hole is never noticed before the
 * statement goes: in doubt. A reset is, once the driver has read it (an event-loop turn
 * away, so not always before the statement): then the statement is not sent at all and
 * the transaction is aborted; otherwise it is sent into the reset and in doubt.
 */
function cutCommitPoint(mode: PartitionMode): Outcome[] {
  return mode === 'blackhole' ? ['in doubt'] : ['in doubt', 'aborted']
}

function outcomeOf(result: PromiseSettledResult<unknown>, ownError: Error): Outcome | string {
  if (result.status === 'fulfilled') return 'committed'
  const error = result.reason as Error
  if (error === ownError) return 'its own error'
  if (error instanceof TransactionInDoubtError) return 'in doubt'
  if (error instanceof TransactionAbortedError) return error.cause instanceof TransactionTimeoutError ? 'timed out' : 'aborted'
  if (error instanceof ShardUnavailableError) return 'shard unavailable'
  return `unexpected ${error.name}: ${error.message}`
}

/**
 * Black-holes and resets the path to the log shard and to a participant at every
 * protocol step, on shards of `dialect`. The transaction writes to three shards:
 * `<dialect>-0` (the log shard, so the decision is written inside its branch),
 * `<dialect>-1` and a shard of the other dialect.
 */
export function describeFaultMatrix(dialect: Dialect): void {
  const prefix = dialect === 'postgres' ? 'pg' : 'my'
  const other = dialect === 'postgres' ? 'my-0' : 'pg-0'
  const log = `${prefix}-0`
  const participant = `${prefix}-1`
  const written = [log, participant, other]
  const table = 'fault_matrix'
  let local: LocalCluster
  let cluster: Cluster
  let faults: StepFaults
  let nextId = 1
  let current: { txId?: string } = {}

  beforeAll(async () => {
    local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false, faults: true })
    faults = new StepFaults(local)
    // Forgetting is batched off the caller's path: a previous case's forget must not strike in this one.
    cluster = createCluster({
      shards: local.shards,
      log,
      ...SMALL_BOUNDS,
      onStep: (event) => (event.step === 'forget' && event.txId !== current.txId ? undefined : faults.onStep(event)),
    })
    await cluster.migrate()
    for (const id of written) {
      await cluster.forShard(id).schema.createTable(table, (t) => {
        t.integer('id').primary()
      })
    }
  }, 120_000)
  afterAll(async () => {
    await cluster?.close()
    await local?.destroy()
  })

  /** Inserts row `id` on every shard in `shards`; all-or-nothing is then "on all or on none". */
  const insertEverywhere = (id: number, shards: string[], captured: { txId?: string }) => async (tx: Parameters<Parameters<Cluster['transaction']>[0]>[0]) => {
    captured.txId = tx.id
    for (const shardId of shards) await tx.forShard(shardId)(table).insert({ id })
  }

  async function rowsOf(id: number): Promise<number[]> {
    return Promise.all(written.map(async (s) => (await cluster.forShard(s)(table).where({ id })).length))
  }

  /** Recovers until no branch is prepared and the transaction's commit record is gone. */
  async function recoverFully(txId: string): Promise<void> {
    await pollUntil(
      async () => {
        await cluster.recover()
        try {
          const records = await cluster.forShard(log)('shardtx_log').where({ tx_id: txId, decision: 'commit' })
          return records.length === 0 && (await cluster.inDoubt()).length === 0
        } catch {
          // A pooled connection the reset broke, not yet noticed by the pool: ask again.
          return false
        }
      },
      { timeoutMs: 20_000, intervalMs: 200, onTimeout: () => new Error(`transaction ${txId} still in doubt or its commit record left`) },
    )
  }

  /**
   * A transfer over every written shard commits again. Its first attempt may spend its
   * timeout on a connection the black hole silenced while it sat idle in the pool (nothing
   * tells a silent idle connection from a live one before it is used); that drops the
   * shard's idle connections, so the next attempt commits.
   */
  async function expectPoolsWork(): Promise<void> {
    let last: unknown
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = nextId++
      try {
        await cluster.transaction(insertEverywhere(id, written, {}))
        expect(await rowsOf(id)).toEqual([1, 1, 1])
        return
      } catch (error) {
        last = error
      }
    }
    throw last
  }

  for (const point of POINTS) {
    describe(`the network breaks at ${point}`, () => {
      for (const role of ROLES) {
        for (const mode of MODES) {
          const target = role === 'log shard' ? log : participant
          const expected = expectedOutcomes(role, mode, point)
          it(`${mode} of the ${role} (${target}): ${expected.join(' or ')}, then all-or-nothing after recovery, pools working`, async () => {
            const id = nextId++
            const captured: { txId?: string } = {}
            current = captured
            const ownError = new Error('the callback changed its mind')
            const shards = point === 'one-phase' ? [target] : written
            let run: () => Promise<unknown>
            if (point === 'callback') {
              // The target's branch is open on a live connection when its path breaks.
              run = () =>
                cluster.transaction(async (tx) => {
                  await insertEverywhere(id, written, captured)(tx)
                  await local.partition(target, { mode })
                  await tx.forShard(target)(table).where({ id }).update({ id })
                })
            } else if (point === 'abort') {
              faults.arm({ step: 'abort', target, mode })
              run = () =>
                cluster.transaction(async (tx) => {
                  await insertEverywhere(id, shards, captured)(tx)
                  throw ownError
                })
            } else {
              // prepare and commit are per shard: strike at the participant's own, or the first one for the log shard.
              const stepShard = role === 'participant' && ['prepare', 'prepared', 'commit', 'committed'].includes(point) ? participant : undefined
              faults.arm({ step: point, stepShard, target, mode })
              run = () => cluster.transaction(insertEverywhere(id, shards, captured))
            }
            let struck = point === 'callback'
            let outcome: Outcome | string | undefined
            try {
              const result = await settle(run())
              // Forgetting runs off the caller's path, shortly after the transaction returned.
              if (point === 'forget' && faults.pending) {
                await pollUntil(async () => !faults.pending, { timeoutMs: 5_000, onTimeout: () => new Error('forget never came') })
              }
              struck ||= !faults.pending
              outcome = outcomeOf(result, ownError)
              expect(expected).toContain(outcome)
            } finally {
              faults.disarm()
              await local.heal(target)
            }
            expect(struck).toBe(true)
            await recoverFully(captured.txId!)
            const rows = await rowsOf(id)
            const onWritten = rows.filter((_, i) => shards.includes(written[i]!))
            // All or nothing; and what the caller was told is what happened.
            expect(new Set(onWritten).size).toBe(1)
            if (outcome === 'committed') expect(onWritten[0]).toBe(1)
            if (['aborted', 'timed out', 'its own error', 'shard unavailable'].includes(outcome!)) expect(onWritten[0]).toBe(0)
            await expectPoolsWork()
          }, 60_000)
        }
      }
    })
  }
}
