import type { ClusterRuntime } from './cluster-runtime.js'
import { BACKGROUND_CONCURRENCY, recover, type RecoveryReport } from './recovery.js'

/**
 * Runs recovery rounds: once at start-up, then every `recovery.intervalMs`.
 * Rounds never overlap within a process; a failed round is logged and the next
 * one tries again. Its timer never keeps the process alive.
 */
export class BackgroundRecovery {
  readonly #runtime: ClusterRuntime
  #timer: NodeJS.Timeout | undefined
  #running: Promise<RecoveryReport> | undefined
  #stopped = false

  constructor(runtime: ClusterRuntime) {
    this.#runtime = runtime
  }

  start(): void {
    this.#schedule(0)
  }

  /** Runs a round now, or joins the one already running. */
  runNow(concurrency?: number): Promise<RecoveryReport> {
    this.#running ??= recover(this.#runtime, concurrency).finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#running?.catch(() => {})
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.#round(), delayMs)
    this.#timer.unref()
  }

  async #round(): Promise<void> {
    const { logger, config } = this.#runtime
    try {
      const report = await this.runNow(BACKGROUND_CONCURRENCY)
      if (report.failed.length > 0) logger.warn({ failed: report.failed }, 'recovery could not reach some shards; next round retries')
      if (report.committed.length + report.rolledBack.length > 0) {
        logger.info(
          { committed: report.committed.length, rolledBack: report.rolledBack.length },
          'recovery settled in-doubt branches',
        )
      }
    } catch (error) {
      logger.warn({ err: error }, 'recovery round failed; next round retries')
    }
    this.#schedule(config.recovery.intervalMs)
  }
}
