import type { Logger } from '../logger.js'
import type { StepEvent } from './protocol-steps.js'
import type { Telemetry } from '../observability/telemetry.js'
import type { TransactionLog } from './transaction-log.js'

const BATCH_SIZE = 500
// Each batch is a DELETE that commits (a WAL flush on the log shard), so it pays to
// gather many: a record kept a little longer costs nothing, since recovery deletes
// the records of transactions whose branches are all committed anyway.
const FLUSH_DELAY_MS = 250

/**
 * Deletes the commit records of fully committed transactions in batches, off
 * the caller's path (step 4 of the commit protocol). A batch that fails is
 * dropped: recovery deletes such records once it sees every branch committed.
 */
export class DecisionForgetter {
  readonly #log: TransactionLog
  readonly #logger: Logger
  readonly #step: (event: StepEvent) => Promise<void> | undefined
  readonly #telemetry: Telemetry
  #pending: string[] = []
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()

  constructor(log: TransactionLog, logger: Logger, step: (event: StepEvent) => Promise<void> | undefined, telemetry: Telemetry) {
    this.#log = log
    this.#logger = logger
    this.#step = step
    this.#telemetry = telemetry
  }

  add(txId: string): void {
    this.#pending.push(txId)
    if (this.#pending.length >= BATCH_SIZE) {
      this.flush()
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_DELAY_MS)
      this.#timer.unref()
    }
  }

  /** Starts deleting what is pending; resolves when every batch started so far is done. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#pending
    if (batch.length > 0) {
      this.#pending = []
      this.#flushing = this.#flushing.then(() => this.#forget(batch))
    }
    return this.#flushing
  }

  async #forget(batch: string[]): Promise<void> {
    try {
      await this.#telemetry.forgetBatch(batch, async () => {
        // Without a step hook (all but crash tests) no await per record: each cost a promise per transaction.
        for (const txId of batch) {
          const stepping = this.#step({ step: 'forget', txId })
          if (stepping !== undefined) await stepping
        }
        await this.#log.forget(batch)
      })
    } catch (error) {
      this.#logger.warn({ err: error, count: batch.length }, 'could not forget commit records; recovery will')
    }
  }
}
