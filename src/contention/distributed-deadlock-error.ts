import { ConflictError } from '../errors.js'
import type { WaitEdge } from './wait-for-graph.js'

/**
 * This transaction was the youngest in a lock cycle that spans shards, which no
 * single server can see, and the deadlock detector aborted it so the others can
 * go on. Retryable like any {@link ConflictError}; `code` and `serverCode` are
 * both `DISTRIBUTED_DEADLOCK`, and the message names the cycle.
 *
 * ```ts
 * catch (err) { if (err instanceof DistributedDeadlockError) console.log(err.cycle, err.waitedMs) }
 * ```
 */
export class DistributedDeadlockError extends ConflictError {
  readonly txId: string
  /** The waits that close the cycle, starting with this transaction's. */
  readonly cycle: readonly WaitEdge[]
  /** How long its statement had waited when the detector aborted it. */
  readonly waitedMs: number
  /** True when the cycle runs through transactions of other processes (no limit of this process alone could have prevented it). */
  readonly otherProcesses: boolean

  constructor(txId: string, cycle: readonly WaitEdge[], waitedMs: number, otherProcesses = false) {
    const shardId = cycle[0]?.shardId ?? 'unknown'
    const waits = cycle.map((e) => `${e.waiter} waits on ${e.shardId} for ${e.blocker}`).join(', ')
    super(
      shardId,
      'DISTRIBUTED_DEADLOCK',
      'distributed deadlock',
      undefined,
      'DISTRIBUTED_DEADLOCK',
      `shard ${shardId}: distributed deadlock, aborted ${txId}, the youngest in the cycle: ${waits} (DISTRIBUTED_DEADLOCK)`,
    )
    this.txId = txId
    this.cycle = cycle
    this.waitedMs = waitedMs
    this.otherProcesses = otherProcesses
  }
}
