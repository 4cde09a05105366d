import type { ClusterRuntime } from '../cluster-runtime.js'
import { BACKGROUND_PACE, ON_DEMAND_PACE, recover, type RecoveryReport } from './recovery.js'

interface Round {
  readonly onDemand: boolean
  readonly report: Promise<RecoveryReport>
  readonly stop: AbortController
}

/**
 * Runs recovery rounds: once at start-up, then every `recovery.intervalMs`.
 * Background rounds are paced by `recovery.dutyCycle` so they yield to the
 * application's transactions; a round asked for by `cluster.recover()` runs
 * at full speed, interrupting a background round rather than waiting behind
 * it. Rounds never overlap within a process; a failed round is logged and the
 * next one tries again. The timer never keeps the process alive.
 */
export class BackgroundRecovery {
  readonly #runtime: ClusterRuntime
  #timer: NodeJS.Timeout | undefined
  #running: Round | undefined
  #stopped = false

  readonly #afterRound: (() => Promise<unknown>) | undefined

  /** `afterRound`: more upkeep for each background round (a resharding batch left frozen). */
  constructor(runtime: ClusterRuntime, afterRound?: () => Promise<unknown>) {
    this.#runtime = runtime
    this.#afterRound = afterRound
  }

  start(): void {
    this.#schedule(0)
  }

  /** Runs a full-speed round now, or joins the one already running. */
  async runNow(): Promise<RecoveryReport> {
    for (;;) {
      const running = this.#running
      if (running === undefined) return this.#begin(true).report
      if (running.onDemand) return running.report
      // A paced background round would make the caller wait; stop it between two
      // transactions (it forgets no records then) and start over at full speed.
      running.stop.abort()
      await running.report.catch(() => {})
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#running?.stop.abort()
    await this.#running?.report.catch(() => {})
  }

  #begin(onDemand: boolean): Round {
    const stop = new AbortController()
    const pace = onDemand
      ? { ...ON_DEMAND_PACE, signal: stop.signal }
      : { ...BACKGROUND_PACE, dutyCycle: this.#runtime.config.recovery.dutyCycle, signal: stop.signal }
    const report = this.#runtime.telemetry.recoveryRound(onDemand, () => recover(this.#runtime, pace)).finally(() => {
      if (this.#running === round) this.#running = undefined
    })
    const round: Round = { onDemand, report, stop }
    this.#running = round
    return round
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.#round(), delayMs)
    this.#timer.unref()
  }

  async #round(): Promise<void> {
    const { logger, config } = this.#runtime
    // An on-demand round already running does this round's work.
    if (this.#running === undefined) {
      try {
        const report = await this.#begin(false).report
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
    }
    await this.#afterRound?.().catch((error: unknown) => logger.warn({ err: error }, 'recovery upkeep failed; next round retries'))
    this.#schedule(config.recovery.intervalMs)
  }
}
