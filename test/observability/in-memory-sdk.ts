import { context, metrics, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

/** A reader that exports only when a test collects. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/**
 * The OpenTelemetry SDK as an application registers it, exporting to memory:
 * a global tracer provider, an AsyncLocalStorage context manager, a global meter provider.
 */
export interface InMemorySdk {
  spans(): ReadableSpan[]
  /** The span of the transaction attempt `txId`. */
  transactionSpan(txId: string): ReadableSpan
  children(parent: ReadableSpan): ReadableSpan[]
  /** Data points of metric `name`, cumulative since the SDK was registered. */
  points(name: string): DataPoint<number | Histogram>[]
  collect(): Promise<void>
  shutdown(): Promise<void>
}

export function registerInMemorySdk(): InMemorySdk {
  const exporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  trace.setGlobalTracerProvider(tracerProvider)
  const reader = new CollectingReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  metrics.setGlobalMeterProvider(meterProvider)
  let collected: Awaited<ReturnType<MetricReader['collect']>> | undefined
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans()
  return {
    spans,
    transactionSpan(txId) {
      const found = spans().filter((s) => s.name === 'shardtx.transaction' && s.attributes['shardtx.transaction.id'] === txId)
      if (found.length !== 1) throw new Error(`expected one transaction span of ${txId}, found ${found.length}`)
      return found[0]!
    },
    children: (parent) => spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId),
    async collect() {
      collected = await reader.collect()
    },
    points(name) {
      const all = collected?.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics) ?? []
      return all.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<number | Histogram>[])
    },
    async shutdown() {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
      contextManager.disable()
      trace.disable()
      metrics.disable()
      context.disable()
    },
  }
}
