/**
 * Observability: with an OpenTelemetry SDK registered, every transaction is a
 * span with a child span per protocol step, every recovery round is a span, and
 * commits, aborts, in-doubt, recovered branches, latency and pool waits are metrics.
 * Nothing to configure in shardtx: it finds the SDK through `@opentelemetry/api`.
 *
 * Run it: `npx tsx examples/observability.ts` (starts throwaway servers, removes them at the end).
 */
import { context, metrics, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createCluster } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'

// 1. The application registers the SDK once, before it creates its cluster. A real
//    service would export to a collector (and add the pg / mysql2 / knex instrumentations,
//    whose statement spans then nest under the transaction span); here spans stay in memory.
const spans = new InMemorySpanExporter()
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }))
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
const reader = new OnDemandReader()
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))

// 2. shardtx as usual.
const local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
const cluster = createCluster({ shards: local.shards, log: 'pg-0', recovery: false })
try {
  await cluster.migrate()
  for (const shardId of cluster.shardIds) {
    await cluster.forShard(shardId).schema.createTable('accounts', (t) => {
      t.integer('id').primary()
      t.integer('balance').notNullable()
    })
    await cluster.forShard(shardId)('accounts').insert({ id: 1, balance: 100 })
  }

  const app = trace.getTracer('example-app')
  await app.startActiveSpan('POST /transfer', async (request) => {
    await cluster.transaction(async (tx) => {
      await tx.forShard('pg-0')('accounts').where({ id: 1 }).decrement('balance', 10)
      await tx.forShard('my-0')('accounts').where({ id: 1 }).increment('balance', 10)
      // Anything traced inside the callback is a child of the transaction span.
      app.startSpan('audit').end()
    })
    request.end()
  })
  await cluster.recover()

  // 3. What was recorded.
  console.log('spans:')
  printTree(spans.getFinishedSpans())
  const { resourceMetrics } = await reader.collect()
  console.log('\nmetrics:')
  for (const metric of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
    for (const point of metric.dataPoints) {
      const value = typeof point.value === 'number' ? point.value : `count ${(point.value as { count: number }).count}`
      console.log(`  ${metric.descriptor.name} ${JSON.stringify(point.attributes)} ${value}`)
    }
  }
} finally {
  await cluster.close()
  await local.destroy()
}

function printTree(all: ReadableSpan[]): void {
  const print = (span: ReadableSpan, depth: number): void => {
    const shown = Object.entries(span.attributes).filter(([key]) => /shard|commit|outcome|attempt|recovery|db\.system/.test(key))
    console.log(`${'  '.repeat(depth + 1)}${span.name} ${shown.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`)
    for (const child of all.filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId)) print(child, depth + 1)
  }
  const ids = new Set(all.map((s) => s.spanContext().spanId))
  for (const root of all.filter((s) => s.parentSpanContext === undefined || !ids.has(s.parentSpanContext.spanId))) print(root, 0)
}
