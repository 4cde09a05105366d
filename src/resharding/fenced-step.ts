import type { Knex } from 'knex'
import { ConflictError, findCause, ShardTxError, TopologyChangeBlockedError, TransactionAbortedError } from '../errors.js'
import { backoff } from '../topology/set-topology.js'
import { topologyRowOf } from '../topology/topology-store.js'
import type { Topology } from '../topology/topology.js'
import type { Transaction } from '../transaction/transaction.js'
import type { ReshardContext } from './reshard-context.js'

/** A fence could not be held in time: this try is rolled back and made again after a pause. */
export class FenceNotHeld extends Error {
  constructor(readonly blockers: string[]) {
    super('fence not held')
  }
}

/** Another mover (or a change) moved the job or the topology on: this step is not ours to make. */
export class StepOvertaken extends ShardTxError {
  constructor(what: string) {
    super(`resharding step overtaken: ${what}`, { code: 'RESHARD_OVERTAKEN' })
  }
}

export interface FencedStep<T> {
  /** The shards whose fences the step holds and raises, in any order (taken in id order). */
  shards: string[]
  /**
   * `start` (default): hold the fences right after BEGIN, so the work runs alone on
   * those shards. `end`: do the work and write the next epoch's row first, beside the
   * application's branches, and hold the fences only for the raise and the commit (a
   * batch's freeze and move, docs/resharding.md).
   */
  hold?: 'start' | 'end'
  /** The epoch the step publishes: one more than the one it routes by. */
  next: Topology
  /** Claimed-by of the topology row (the job id). */
  claimedBy: string
  /** The work inside the held fences: move rows, advance the job on the log shard. */
  work(tx: Transaction): Promise<T>
}

export interface FencedStepBounds {
  lockWaitMs: number
  timeoutMs: number
  batchTimeoutMs: number
}

/**
 * Runs one step of a job as one shardtx two-phase transaction: hold the fence of
 * each of `shards` exclusively (id order, each wait bounded) before or after the
 * work, as `hold` says, do the work, insert
 * the next epoch's topology row on the log shard (its primary key is a
 * compare-and-set), and raise those fences to it. Everything commits together or
 * not at all, so routing, fences and rows never disagree (docs/resharding.md).
 * A fence that cannot be held rolls the try back; it is made again after a
 * jittered pause until `timeoutMs`, then TopologyChangeBlockedError names who held it.
 */
export async function runFencedStep<T>(ctx: ReshardContext, step: FencedStep<T>, bounds: FencedStepBounds): Promise<T> {
  const ids = [...new Set(step.shards)].sort()
  const deadline = performance.now() + bounds.timeoutMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.transaction(
        async (tx) => {
          const holdFences = async (): Promise<void> => {
            for (const id of ids) {
              const blocked = await ctx.fences.get(id)!.holdInBranch(tx.forShard(id), bounds.lockWaitMs, bounds.batchTimeoutMs)
              if (blocked !== undefined) throw new FenceNotHeld(blocked.blockers)
            }
          }
          if (step.hold !== 'end') await holdFences()
          const result = await step.work(tx)
          // The next epoch's row first: a fence held at the end is then held only for its raise and the commit.
          await insertTopology(tx.forShard(ctx.state.logShardId), ctx.topologyTable, step.next, step.claimedBy)
          if (step.hold === 'end') await holdFences()
          await Promise.all(ids.map((id) => ctx.fences.get(id)!.raiseInBranch(tx.forShard(id), step.next.epoch, step.next.logShardId)))
          return result
        },
        // Read committed: every read of the step sees what committed before it, never an older
        // snapshot: what the fences held at its start waited out, or a batch's freeze did.
        { timeout: bounds.batchTimeoutMs, isolationLevel: 'read committed' },
      )
    } catch (error) {
      // A conflict (a lock wait cut short, a deadlock victim) is tried again like a held fence;
      // a stale topology is not: the caller reloads and decides the step again.
      const blockers = notHeld(error) ?? (isConflict(error) ? [describe(error)] : undefined)
      if (blockers === undefined) throw error
      if (performance.now() >= deadline) {
        throw new TopologyChangeBlockedError(`resharding could not hold the fences of ${ids.join(', ')} within ${bounds.timeoutMs} ms (${attempt} tries)`, blockers)
      }
      await backoff(attempt, deadline)
    }
  }
}

/** Publishes `next` on the log shard (inside the step's branch); another mover's row there means this step is overtaken. */
export async function insertTopology(log: Knex, table: string, next: Topology, claimedBy: string): Promise<void> {
  const existing = await log(table).where({ epoch: next.epoch }).first()
  if (existing !== undefined) throw new StepOvertaken(`epoch ${next.epoch} was published meanwhile`)
  await log(table).insert(topologyRowOf(next, claimedBy))
}

/** The blockers when the transaction failed because a fence was not held (directly or as its cause). */
function notHeld(error: unknown): string[] | undefined {
  return (findCause(error, (e) => e instanceof FenceNotHeld) as FenceNotHeld | undefined)?.blockers
}

function isConflict(error: unknown): boolean {
  return error instanceof ConflictError || (error instanceof TransactionAbortedError && error.cause instanceof ConflictError)
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
