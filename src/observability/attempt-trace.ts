import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api'
import type { CommitPath, StepEvent } from '../protocol/protocol-steps.js'
import { abortCause } from './abort-cause.js'
import type { Instruments } from './instruments.js'
import type { OpenTelemetryApi } from './load-opentelemetry.js'
import type { AttemptEnd, AttemptTrace } from './telemetry.js'

/** Counts an attempt's outcome in the metrics; traced or not. */
export class MeteredAttempt implements AttemptTrace {
  readonly #instruments: Instruments
  readonly #started = performance.now()

  constructor(instruments: Instruments) {
    this.#instruments = instruments
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return fn()
  }

  end({ outcome, path, error }: AttemptEnd): void {
    const m = this.#instruments
    if (outcome === 'committed') {
      const attributes = { 'shardtx.commit_path': path ?? 'read-only' }
      m.commits.add(1, attributes)
      m.commitDuration.record((performance.now() - this.#started) / 1000, attributes)
    } else if (outcome === 'unknown') {
      m.inDoubt.add(1)
    } else {
      m.aborts.add(1, { 'shardtx.abort.cause': abortCause(error) })
    }
  }
}

/** What a traced attempt needs of its cluster's telemetry. */
export interface AttemptTracing {
  readonly api: OpenTelemetryApi
  readonly tracer: Tracer
  shardAttributes(shardId: string): Attributes
  readonly logShardId: string
  /** Called once the attempt ended: stops routing steps to it. */
  ended(txId: string, attempt: TracedAttempt, committedTwoPhase: boolean): void
}

/**
 * A recording attempt: its span, and a child span per protocol step, opened and
 * closed by the steps the coordinator reports (docs/protocol.md):
 * `shardtx.prepare` and `shardtx.commit` per shard, `shardtx.decide` on the log
 * shard, `shardtx.rollback` for the abort. A step span still open when the next
 * phase starts, or when the attempt ends, is the one that failed.
 */
export class TracedAttempt extends MeteredAttempt {
  readonly span: Span
  readonly #txId: string
  readonly #tracing: AttemptTracing
  readonly #context: Context
  readonly #open = new Map<string, Span>()
  #path: CommitPath | undefined

  constructor(tracing: AttemptTracing, instruments: Instruments, span: Span, txId: string) {
    super(instruments)
    this.#tracing = tracing
    this.span = span
    this.#txId = txId
    this.#context = tracing.api.trace.setSpan(tracing.api.context.active(), span)
  }

  override run<T>(fn: () => Promise<T>): Promise<T> {
    return this.#tracing.api.context.with(this.#context, fn)
  }

  step(event: StepEvent): void {
    const shard = event.shardId ?? this.#tracing.logShardId
    switch (event.step) {
      case 'prepare':
        this.#path = 'two-phase'
        return this.#start(`prepare ${shard}`, 'shardtx.prepare', shard)
      case 'prepared':
        return this.#finish(`prepare ${shard}`, true)
      case 'decide':
        this.#path = 'two-phase'
        return this.#start('decide', 'shardtx.decide', shard)
      case 'decided':
        return this.#finish('decide', true)
      case 'commit':
        return this.#start(`commit ${shard}`, 'shardtx.commit', shard)
      case 'committed':
        return this.#finish(`commit ${shard}`, true)
      case 'one-phase':
        this.#path = 'one-phase'
        return this.#start(`one-phase ${shard}`, 'shardtx.commit', shard, { 'shardtx.commit.one_phase': true })
      case 'abort':
        // Whatever prepare or decision is still open is what made the transaction abort.
        for (const key of [...this.#open.keys()]) this.#finish(key, false)
        return this.#start('rollback', 'shardtx.rollback', undefined)
      default:
        return undefined
    }
  }

  override end(result: AttemptEnd): void {
    super.end(result)
    const { api } = this.#tracing
    // An open one-phase commit or rollback ended with the attempt; an open commit of a
    // prepared branch failed and was left to recovery.
    for (const key of [...this.#open.keys()]) {
      this.#finish(key, key === 'rollback' || (key.startsWith('one-phase') && result.outcome === 'committed'))
    }
    const path = result.path ?? this.#path
    this.span.setAttributes({
      'shardtx.transaction.shards': result.shards,
      'shardtx.transaction.outcome': result.outcome,
      ...(path === undefined ? {} : { 'shardtx.commit_path': path }),
    })
    if (result.outcome !== 'committed') {
      const error = result.error
      this.span.setAttribute('error.type', error instanceof Error ? error.constructor.name : typeof error)
      if (error instanceof Error) this.span.recordException(error)
      this.span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
    }
    this.span.end()
    this.#tracing.ended(this.#txId, this, result.outcome === 'committed' && path === 'two-phase')
  }

  #start(key: string, name: string, shardId: string | undefined, extra: Attributes = {}): void {
    const { api } = this.#tracing
    const attributes = { 'shardtx.transaction.id': this.#txId, ...(shardId === undefined ? {} : this.#tracing.shardAttributes(shardId)), ...extra }
    const kind = shardId === undefined ? api.SpanKind.INTERNAL : api.SpanKind.CLIENT
    this.#open.set(key, this.#tracing.tracer.startSpan(name, { kind, attributes }, this.#context))
  }

  #finish(key: string, ok: boolean): void {
    const span = this.#open.get(key)
    if (span === undefined) return
    this.#open.delete(key)
    if (!ok) span.setStatus({ code: this.#tracing.api.SpanStatusCode.ERROR })
    span.end()
  }
}
