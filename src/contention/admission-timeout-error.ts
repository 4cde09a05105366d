import { ShardTxError } from '../errors.js'

/**
 * A transaction waited longer than `maxWait` to be admitted: as many transactions
 * as the smallest pool can serve were running, and it never started its callback.
 * Nothing was sent for it; running it again later may succeed.
 *
 * ```ts
 * catch (err) { if (err instanceof AdmissionTimeoutError) console.log(err.waitedMs, err.running) }
 * ```
 */
export class AdmissionTimeoutError extends ShardTxError {
  readonly waitedMs: number
  /** Transactions running in this process when it gave up. */
  readonly running: number
  constructor(waitedMs: number, running: number, capacity: number) {
    super(
      `no transaction slot within the wait limit (maxWait, ${Math.round(waitedMs)} ms): ` +
        `${running} of ${capacity} running, as many as the smallest pool serves; the callback never started`,
      { code: 'ADMISSION_TIMEOUT', retryable: true },
    )
    this.waitedMs = waitedMs
    this.running = running
  }
}
