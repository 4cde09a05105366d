import { ShardTxError } from '../errors.js'

/**
 * A transaction gave up waiting to be admitted: as many transactions as the
 * smallest pool can serve were running, and either none of them finished within
 * `maxWait` or it waited its whole `timeout`. Its callback never started and
 * nothing was sent for it; running it again later may succeed.
 *
 * ```ts
 * catch (err) { if (err instanceof AdmissionTimeoutError) console.log(err.waitedMs, err.running) }
 * ```
 */
export class AdmissionTimeoutError extends ShardTxError {
  readonly waitedMs: number
  /** Transactions running in this process when it gave up. */
  readonly running: number
  constructor(why: string, waitedMs: number, running: number, capacity: number) {
    super(
      `no transaction slot after ${Math.round(waitedMs)} ms: ${why}; ${running} running, ` +
        `at most ${capacity} at once (as many as the smallest pool serves); the callback never started`,
      { code: 'ADMISSION_TIMEOUT', retryable: true },
    )
    this.waitedMs = waitedMs
    this.running = running
  }
}
