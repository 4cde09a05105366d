import type { Attributes, Link, SpanContext, Tracer } from '@opentelemetry/api'
import { type AttemptTracing, MeteredAttempt, TracedAttempt } from './attempt-trace.js'
import { createInstruments, type Instruments } from './instruments.js'
import { type OpenTelemetryApi, openTelemetryApi } from './load-opentelemetry.js'
import { type ShardFacts, shardAttributes } from './shard-attributes.js'
import { type AttemptTrace, NO_TELEMETRY, type RoundCounts, type StepReport, type Telemetry } from './telemetry.js'

// Committed two-phase transactions wait here for their forget batch to link to them;
// a batch is flushed within a second, so this bound is only ever reached if it is not.
const MAX_AWAITING_FORGET = 10_000

/**
 * Telemetry through the global tracer and meter providers of `@opentelemetry/api`.
 * With no SDK registered both are no-ops: the one span an attempt starts is a
 * non-recording one, and no step spans or context switches follow.
 */
export class OpenTelemetryTelemetry implements Telemetry, AttemptTracing {
  readonly api: OpenTelemetryApi
  readonly tracer: Tracer
  readonly logShardId: string
  readonly #instruments: Instruments
  readonly #shards = new Map<string, Attributes>()
  readonly #poolAttributes = new Map<string, Attributes>()
  readonly #live = new Map<string, TracedAttempt>()
  readonly #awaitingForget = new Map<string, SpanContext>()

  constructor(api: OpenTelemetryApi, shards: readonly ShardFacts[], logShardId: string) {
    this.api = api
    this.tracer = api.trace.getTracer('shardtx')
    this.#instruments = createInstruments(api.metrics.getMeter('shardtx'))
    this.logShardId = logShardId
    for (const shard of shards) {
      const attributes = shardAttributes(shard)
      this.#shards.set(shard.id, attributes)
      this.#poolAttributes.set(shard.id, { 'db.client.connection.pool.name': shard.id, 'db.system.name': attributes['db.system.name'] })
    }
  }

  shardAttributes(shardId: string): Attributes {
    return this.#shards.get(shardId) ?? { 'shardtx.shard.id': shardId }
  }

  startAttempt(txId: string, attempt: number): AttemptTrace {
    const span = this.tracer.startSpan('shardtx.transaction', {
      attributes: { 'shardtx.transaction.id': txId, 'shardtx.transaction.attempt': attempt },
    })
    if (!span.isRecording()) {
      span.end()
      return new MeteredAttempt(this.#instruments)
    }
    const traced = new TracedAttempt(this, this.#instruments, span, txId)
    this.#live.set(txId, traced)
    return traced
  }

  ended(txId: string, attempt: TracedAttempt, committedTwoPhase: boolean): void {
    if (this.#live.get(txId) === attempt) this.#live.delete(txId)
    if (!committedTwoPhase) return
    if (this.#awaitingForget.size >= MAX_AWAITING_FORGET) this.#awaitingForget.delete(this.#awaitingForget.keys().next().value!)
    this.#awaitingForget.set(txId, attempt.span.spanContext())
  }

  observeSteps(report: StepReport): StepReport {
    return (event) => {
      this.#live.get(event.txId)?.step(event)
      return report(event)
    }
  }

  async recoveryRound<R extends RoundCounts>(onDemand: boolean, round: () => Promise<R>): Promise<R> {
    const { api } = this
    const span = this.tracer.startSpan('shardtx.recovery', { root: !onDemand, attributes: { 'shardtx.recovery.on_demand': onDemand } })
    const parent = onDemand ? api.context.active() : api.ROOT_CONTEXT
    try {
      const report = await api.context.with(api.trace.setSpan(parent, span), round)
      const settled = report.committed.length + report.rolledBack.length
      span.setAttributes({
        'shardtx.recovery.settled': settled,
        'shardtx.recovery.committed': report.committed.length,
        'shardtx.recovery.rolled_back': report.rolledBack.length,
        'shardtx.recovery.skipped': report.skipped.length,
        'shardtx.recovery.failed': report.failed.length,
        'shardtx.recovery.forgotten': report.forgotten,
        'shardtx.recovery.expired': report.expired,
      })
      if (report.committed.length > 0) this.#instruments.recovered.add(report.committed.length, { 'shardtx.decision': 'commit' })
      if (report.rolledBack.length > 0) this.#instruments.recovered.add(report.rolledBack.length, { 'shardtx.decision': 'abort' })
      return report
    } catch (error) {
      this.#fail(span, error)
      throw error
    } finally {
      span.end()
    }
  }

  async forgetBatch(txIds: readonly string[], forget: () => Promise<void>): Promise<void> {
    const { api } = this
    const links: Link[] = []
    for (const txId of txIds) {
      const context = this.#awaitingForget.get(txId)
      if (context === undefined) continue
      this.#awaitingForget.delete(txId)
      links.push({ context })
    }
    // Off every caller's path: a batch forgets many transactions, so it links to them
    // rather than being the child of whichever one happened to fill it.
    const span = this.tracer.startSpan('shardtx.forget', {
      root: true,
      kind: api.SpanKind.CLIENT,
      links,
      attributes: { ...this.shardAttributes(this.logShardId), 'shardtx.forget.count': txIds.length },
    })
    try {
      await api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), forget)
    } catch (error) {
      this.#fail(span, error)
      throw error
    } finally {
      span.end()
    }
  }

  connectionWaited(shardId: string, ms: number): void {
    this.#instruments.poolWait.record(ms / 1000, this.#poolAttributes.get(shardId))
  }

  admissionWaited(ms: number): void {
    this.#instruments.admissionWait.record(ms / 1000)
  }

  #fail(span: { setStatus: TracedAttempt['span']['setStatus']; recordException: TracedAttempt['span']['recordException'] }, error: unknown): void {
    if (error instanceof Error) span.recordException(error)
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
  }
}

/**
 * The cluster's telemetry: through OpenTelemetry's global providers when
 * `@opentelemetry/api` is installed, {@link NO_TELEMETRY} when it is not.
 */
export function createTelemetry(shards: readonly ShardFacts[], logShardId: string, api = openTelemetryApi): Telemetry {
  return api === undefined ? NO_TELEMETRY : new OpenTelemetryTelemetry(api, shards, logShardId)
}
