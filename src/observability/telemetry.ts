import type { CommitPath, StepEvent } from '../protocol/protocol-steps.js'

// No type from `@opentelemetry/api` here: the runtime that every layer shares names
// this file, and must compile where the optional package is not installed.

/** The counts of a recovery round that its span records (a `RecoveryReport`). */
export interface RoundCounts {
  committed: readonly unknown[]
  rolledBack: readonly unknown[]
  skipped: readonly unknown[]
  failed: readonly unknown[]
  forgotten: number
  expired: number
}

export type StepReport = (event: StepEvent) => Promise<void> | undefined

/** How an attempt ended, as its span and metrics record it. */
export interface AttemptEnd {
  outcome: 'committed' | 'rolled back' | 'unknown'
  /** Set when the attempt committed. */
  path: CommitPath | undefined
  shards: string[]
  /** What the attempt threw, when it failed. */
  error: unknown
}

/**
 * One `cluster.transaction()` attempt as telemetry sees it. `run` runs code in the
 * attempt's span context, so that driver instrumentations nest their statements under it.
 */
export interface AttemptTrace {
  run<T>(fn: () => Promise<T>): Promise<T>
  end(result: AttemptEnd): void
}

export const NO_ATTEMPT_TRACE: AttemptTrace = { run: (fn) => fn(), end: () => {} }

/**
 * Where the transaction layer, the protocol and recovery report to OpenTelemetry.
 * {@link NO_TELEMETRY} when `@opentelemetry/api` is not installed: every method
 * then does nothing, and `observeSteps` hands the step reporter back unchanged.
 */
export interface Telemetry {
  /** Starts the span of one `cluster.transaction()` attempt (1-based). */
  startAttempt(txId: string, attempt: number): AttemptTrace
  /** The step reporter, also feeding each protocol step to the attempt's span. */
  observeSteps(report: StepReport): StepReport
  /** Runs one recovery round in its span; a background round is a trace of its own. */
  recoveryRound<R extends RoundCounts>(onDemand: boolean, round: () => Promise<R>): Promise<R>
  /** Runs one batch of the decision forgetter in its span, linked to the transactions it forgets. */
  forgetBatch(txIds: readonly string[], forget: () => Promise<void>): Promise<void>
  /** A branch waited `ms` for a connection of its shard's pool. */
  connectionWaited(shardId: string, ms: number): void
  /**
   * An attempt waited `ms` for the admission gate (docs/deadlocks.md) before its callback
   * started; recorded as `shardtx.admission.wait_time`.
   */
  admissionWaited(ms: number): void
}

export const NO_TELEMETRY: Telemetry = {
  startAttempt: () => NO_ATTEMPT_TRACE,
  observeSteps: (report) => report,
  recoveryRound: (_onDemand, round) => round(),
  forgetBatch: (_txIds, forget) => forget(),
  connectionWaited: () => {},
  admissionWaited: () => {},
}
