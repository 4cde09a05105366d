import { context, metrics, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { createCluster, type ShardConfig } from '../src/index.js'
import { measure, medianOf, type RunResult, type RunSettings } from './measure.js'
import { shardtxTransfer } from './transfer.js'

/** Exports nowhere: the cost measured is shardtx's and the SDK's, not a collector's. */
const discardingExporter: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
}

class IdleReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface TelemetryBenchResult {
  withoutSdk: RunResult
  withSdk: RunResult
  spans: number
}

/**
 * W1 (a PostgreSQL↔MariaDB transfer, two-phase) with `@opentelemetry/api` installed
 * but no SDK registered, then with the SDK registered as an application would: a
 * tracer provider with a batch span processor (exporting nowhere), an
 * AsyncLocalStorage context manager and a meter provider. Each on a cluster of its
 * own, since a cluster takes its meter when it is created.
 */
export async function measureTelemetry(
  shards: ShardConfig[],
  settings: Omit<RunSettings, 'concurrency'> & { repeats: number },
  concurrency: number,
): Promise<TelemetryBenchResult> {
  const run = async (): Promise<RunResult> => {
    const cluster = createCluster({ shards, log: 'pg-0', recovery: false })
    try {
      return await medianOf(settings.repeats, () => measure({ ...settings, concurrency }, () => shardtxTransfer(cluster, 'pg-0', 'my-0')))
    } finally {
      await cluster.close()
    }
  }
  const withoutSdk = await run()

  let spans = 0
  const counting: SpanExporter = { ...discardingExporter, export: (batch, done) => ((spans += batch.length), done({ code: 0 })) }
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(counting)] })
  const contextManager = new AsyncLocalStorageContextManager().enable()
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] })
  context.setGlobalContextManager(contextManager)
  trace.setGlobalTracerProvider(tracerProvider)
  metrics.setGlobalMeterProvider(meterProvider)
  try {
    const withSdk = await run()
    await tracerProvider.forceFlush()
    return { withoutSdk, withSdk, spans }
  } finally {
    await tracerProvider.shutdown()
    await meterProvider.shutdown()
    trace.disable()
    metrics.disable()
    context.disable()
  }
}
