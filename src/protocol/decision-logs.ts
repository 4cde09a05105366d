import type { Logger } from '../logger.js'
import type { Telemetry } from '../observability/telemetry.js'
import { DecisionForgetter } from './decision-forgetter.js'
import type { Participant } from './participant.js'
import type { StepEvent } from './protocol-steps.js'
import { TransactionLog } from './transaction-log.js'

/**
 * The decision log on each shard that holds one, with its forgetter, made on first
 * use. A cluster's log lives on one shard at a time, but it can move
 * (docs/moving-the-log.md): a transaction decides on the log of the topology it
 * routes by, and a recoverer on the log a shard's fence names, so a process may
 * use two for a while.
 *
 * ```ts
 * const log = logs.of(ctx.logShardId)
 * ```
 */
export class DecisionLogs {
  readonly #participants: ReadonlyMap<string, Participant>
  readonly #forgetterFor: (log: TransactionLog) => DecisionForgetter
  readonly #logs = new Map<string, { log: TransactionLog; forgetter: DecisionForgetter }>()

  constructor(
    participants: ReadonlyMap<string, Participant>,
    logger: Logger,
    step: (event: StepEvent) => Promise<void> | undefined,
    telemetry: Telemetry,
  ) {
    this.#participants = participants
    this.#forgetterFor = (log) => new DecisionForgetter(log, logger, step, telemetry)
  }

  /** The decision log on `shardId`. */
  of(shardId: string): TransactionLog {
    return this.#entry(shardId).log
  }

  /** The forgetter of the decision log on `shardId`. */
  forgetterOf(shardId: string): DecisionForgetter {
    return this.#entry(shardId).forgetter
  }

  /** Flushes every forgetter (at close). */
  async flush(): Promise<void> {
    await Promise.all([...this.#logs.values()].map((e) => e.forgetter.flush()))
  }

  #entry(shardId: string): { log: TransactionLog; forgetter: DecisionForgetter } {
    let entry = this.#logs.get(shardId)
    if (entry === undefined) {
      const participant = this.#participants.get(shardId)
      if (participant === undefined) throw new Error(`no connection for log shard ${shardId}`)
      const log = new TransactionLog(participant)
      entry = { log, forgetter: this.#forgetterFor(log) }
      this.#logs.set(shardId, entry)
    }
    return entry
  }
}
