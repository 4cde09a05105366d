import { trace } from '@opentelemetry/api'
import type { Histogram } from '@opentelemetry/sdk-metrics'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError, TransactionAbortedError } from '../../src/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'
import { type InMemorySdk, registerInMemorySdk } from './in-memory-sdk.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']

describe('OpenTelemetry traces and metrics, with the SDK registered', () => {
  let sdk: InMemorySdk
  let t: TestCluster
  let accounts: string

  beforeAll(async () => {
    // Registered before the cluster is created: its meter comes from the global provider.
    sdk = registerInMemorySdk()
    t = await startTestCluster(sharedShards(), { log: 'pg-0', recovery: { enabled: false, graceMs: 0 } })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, SHARDS, [{ id: 1, balance: 100 }])
  })
  afterAll(async () => {
    await t.close()
    await sdk.shutdown()
  })

  const names = (spans: ReadableSpan[]): string[] => spans.map((s) => s.name).sort()
  const shardOf = (span: ReadableSpan): unknown => span.attributes['shardtx.shard.id']

  it('traces a read-only transaction as one span with no protocol steps', async () => {
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-1')(accounts).select()
      await tx.forShard('my-1')(accounts).select()
      return tx.id
    })
    const span = sdk.transactionSpan(txId)
    expect(span.attributes).toMatchObject({
      'shardtx.transaction.id': txId,
      'shardtx.transaction.attempt': 1,
      'shardtx.commit_path': 'read-only',
      'shardtx.transaction.outcome': 'committed',
      'shardtx.transaction.shards': ['pg-1', 'my-1'],
    })
    expect(span.status.code).toBe(SpanStatusCode.UNSET)
    expect(sdk.children(span)).toEqual([])
  })

  it('traces a one-phase commit with one commit span carrying the database conventions', async () => {
    const txId = await t.cluster.transaction(async (tx) => {
      await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
      await tx.forShard('pg-1')(accounts).select()
      return tx.id
    })
    const span = sdk.transactionSpan(txId)
    expect(span.attributes['shardtx.commit_path']).toBe('one-phase')
    const children = sdk.children(span)
    expect(names(children)).toEqual(['shardtx.commit'])
    expect(children[0]!.kind).toBe(SpanKind.CLIENT)
    expect(children[0]!.attributes).toMatchObject({
      'db.system.name': 'mysql',
      'shardtx.shard.id': 'my-1',
      'shardtx.commit.one_phase': true,
      'server.address': '127.0.0.1',
    })
    expect(typeof children[0]!.attributes['server.port']).toBe('number')
    expect(typeof children[0]!.attributes['db.namespace']).toBe('string')
  })

  it('traces a two-phase commit: prepare and commit per shard, the decision, then a linked forget batch', async () => {
    let activeInCallback: string | undefined
    let statementParent: string | undefined
    const txId = await t.cluster.transaction(async (tx) => {
      activeInCallback = trace.getActiveSpan()?.spanContext().spanId
      await tx.forShard('pg-1')(accounts).where({ id: 1 }).decrement('balance', 5)
      await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 5)
      // What the pg and mysql2 instrumentations do per statement: a span under the active context.
      const statement = trace.getTracer('app').startSpan('app.statement')
      statementParent = (statement as unknown as ReadableSpan).parentSpanContext?.spanId
      statement.end()
      return tx.id
    })
    const span = sdk.transactionSpan(txId)
    expect(activeInCallback).toBe(span.spanContext().spanId)
    expect(statementParent).toBe(span.spanContext().spanId)
    expect(span.attributes).toMatchObject({ 'shardtx.commit_path': 'two-phase', 'shardtx.transaction.outcome': 'committed' })
    expect((span.attributes['shardtx.transaction.shards'] as string[]).slice().sort()).toEqual(['my-1', 'pg-1'])

    const children = sdk.children(span).filter((s) => s.name.startsWith('shardtx.'))
    expect(names(children)).toEqual(['shardtx.commit', 'shardtx.commit', 'shardtx.decide', 'shardtx.prepare', 'shardtx.prepare'])
    expect(children.filter((s) => s.name === 'shardtx.prepare').map(shardOf).sort()).toEqual(['my-1', 'pg-1'])
    expect(children.filter((s) => s.name === 'shardtx.commit').map(shardOf).sort()).toEqual(['my-1', 'pg-1'])
    const decide = children.find((s) => s.name === 'shardtx.decide')!
    expect(decide.attributes).toMatchObject({ 'shardtx.shard.id': 'pg-0', 'db.system.name': 'postgresql' })
    for (const child of children) expect(child.status.code).toBe(SpanStatusCode.UNSET)
    // Steps in protocol order: spans are exported as they end, every prepare before the decision, the decision before any commit.
    const endOrder = children.map((s) => s.name)
    expect(endOrder.lastIndexOf('shardtx.prepare')).toBeLessThan(endOrder.indexOf('shardtx.decide'))
    expect(endOrder.indexOf('shardtx.decide')).toBeLessThan(endOrder.indexOf('shardtx.commit'))

    // The forget batch runs off the caller's path: a root span of its own, linked to the transaction.
    await waitFor(() => sdk.spans().some((s) => s.name === 'shardtx.forget' && s.links.some((l) => l.context.spanId === span.spanContext().spanId)))
    const forget = sdk.spans().find((s) => s.name === 'shardtx.forget' && s.links.some((l) => l.context.spanId === span.spanContext().spanId))!
    expect(forget.parentSpanContext).toBeUndefined()
    expect(forget.attributes['shardtx.shard.id']).toBe('pg-0')
  })

  it('traces an abort: a rollback span, the outcome, the error and its type', async () => {
    let txId = ''
    await expect(
      t.cluster.transaction(async (tx) => {
        txId = tx.id
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
        await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
        throw new RangeError('not enough money')
      }),
    ).rejects.toThrow('not enough money')
    const span = sdk.transactionSpan(txId)
    expect(span.attributes).toMatchObject({ 'shardtx.transaction.outcome': 'rolled back', 'error.type': 'RangeError' })
    expect(span.attributes['shardtx.commit_path']).toBeUndefined()
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'not enough money' })
    expect(span.events.map((e) => e.name)).toContain('exception')
    expect(names(sdk.children(span))).toEqual(['shardtx.rollback'])
    expect((await t.balances(accounts, 'pg-1')).get(1)).toBe(95)
  })

  it('traces a failed PREPARE: that prepare span in error, the rollback, the abort', async () => {
    let txId = ''
    await expect(
      t.cluster.transaction(async (tx) => {
        txId = tx.id
        // PostgreSQL refuses to prepare a transaction that used a temporary table (0A000).
        await tx.forShard('pg-1').raw('create temporary table otel_tmp (id int)')
        await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
      }),
    ).rejects.toBeInstanceOf(TransactionAbortedError)
    const span = sdk.transactionSpan(txId)
    expect(span.attributes).toMatchObject({ 'shardtx.commit_path': 'two-phase', 'shardtx.transaction.outcome': 'rolled back', 'error.type': 'TransactionAbortedError' })
    const children = sdk.children(span)
    expect(names(children)).toEqual(['shardtx.prepare', 'shardtx.prepare', 'shardtx.rollback'])
    const prepares = children.filter((s) => s.name === 'shardtx.prepare')
    expect(prepares.find((s) => shardOf(s) === 'pg-1')!.status.code).toBe(SpanStatusCode.ERROR)
    expect(prepares.find((s) => shardOf(s) === 'my-1')!.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('gives each retried attempt its own span with its attempt number', async () => {
    const ids: string[] = []
    await t.cluster.transaction(
      async (tx) => {
        ids.push(tx.id)
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
        if (ids.length === 1) throw new ConflictError('pg-1', '40001', 'serialization failure', undefined)
      },
      { retry: { attempts: 2, backoff: 0 } },
    )
    expect(ids).toHaveLength(2)
    expect(sdk.transactionSpan(ids[0]!).attributes).toMatchObject({ 'shardtx.transaction.attempt': 1, 'shardtx.transaction.outcome': 'rolled back', 'error.type': 'ConflictError' })
    expect(sdk.transactionSpan(ids[1]!).attributes).toMatchObject({ 'shardtx.transaction.attempt': 2, 'shardtx.transaction.outcome': 'committed', 'shardtx.commit_path': 'one-phase' })
  })

  it('traces a recovery round with its settled, skipped and failed counts', async () => {
    const rows = t.table('rows')
    await Promise.all(['pg-1', 'my-1'].map((s) => t.cluster.forShard(s).schema.createTable(rows, (table) => table.integer('id').primary())))
    const factory = new BranchFactory(sharedShards(), t.prefix)
    try {
      const txId = BranchFactory.oldTxId()
      await factory.prepare('pg-1', txId, { table: rows, row: { id: 1 } })
      await factory.prepare('my-1', txId, { table: rows, row: { id: 1 } })
      const report = await t.cluster.recover()
      expect(report.rolledBack.filter((b) => b.txId === txId)).toHaveLength(2)
      const rounds = sdk.spans().filter((s) => s.name === 'shardtx.recovery')
      expect(rounds).toHaveLength(1)
      expect(rounds[0]!.attributes).toMatchObject({
        'shardtx.recovery.on_demand': true,
        'shardtx.recovery.settled': report.committed.length + report.rolledBack.length,
        'shardtx.recovery.rolled_back': report.rolledBack.length,
        'shardtx.recovery.skipped': report.skipped.length,
        'shardtx.recovery.failed': 0,
      })
      expect(report.rolledBack.length).toBeGreaterThanOrEqual(2)
    } finally {
      await factory.close()
      await Promise.all(['pg-1', 'my-1'].map((s) => t.cluster.forShard(s).schema.dropTableIfExists(rows)))
    }
  })

  it('records metrics beside stats(): commits by path, aborts by cause, recovered, latency, pool waits', async () => {
    await sdk.collect()
    const sum = (name: string, attribute: string, value: string): number =>
      sdk.points(name).filter((p) => p.attributes[attribute] === value).reduce((n, p) => n + (p.value as number), 0)
    const stats = t.cluster.stats()
    expect(sum('shardtx.transaction.commits', 'shardtx.commit_path', 'read-only')).toBe(stats.commits.readOnly)
    expect(sum('shardtx.transaction.commits', 'shardtx.commit_path', 'one-phase')).toBe(2)
    expect(sum('shardtx.transaction.commits', 'shardtx.commit_path', 'two-phase')).toBe(1)
    expect(sum('shardtx.transaction.aborts', 'shardtx.abort.cause', 'callback')).toBe(1)
    expect(sum('shardtx.transaction.aborts', 'shardtx.abort.cause', 'commit')).toBe(1)
    expect(sum('shardtx.transaction.aborts', 'shardtx.abort.cause', 'conflict')).toBe(1)
    expect(sum('shardtx.recovery.branches', 'shardtx.decision', 'abort')).toBe(stats.recovered.rolledBack)
    const durations = sdk.points('shardtx.transaction.duration').map((p) => p.value as Histogram)
    expect(durations.reduce((n, h) => n + h.count, 0)).toBe(stats.latency.count)
    // One pool wait per shard each attempt touched.
    const touched = sdk.spans().filter((s) => s.name === 'shardtx.transaction').flatMap((s) => s.attributes['shardtx.transaction.shards'] as string[])
    const waits = sdk.points('db.client.connection.wait_time')
    expect(waits.map((p) => p.attributes['db.client.connection.pool.name']).sort()).toEqual(['my-1', 'pg-1'])
    expect(waits.reduce((n, p) => n + (p.value as Histogram).count, 0)).toBe(touched.length)
    // Every attempt passes the admission gate once.
    const attempts = sdk.spans().filter((s) => s.name === 'shardtx.transaction').length
    const admissions = sdk.points('shardtx.admission.wait_time').map((p) => p.value as Histogram)
    expect(admissions.reduce((n, h) => n + h.count, 0)).toBe(attempts)
  })
})

async function waitFor(condition: () => boolean, boundMs = 10_000): Promise<void> {
  const until = Date.now() + boundMs
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${boundMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
