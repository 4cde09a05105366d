import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Cluster, createCluster } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'

const PREFIX = 'down_'

describe('recovery with shards down', () => {
  let local: LocalCluster
  let cluster: Cluster
  let factory: BranchFactory

  beforeAll(async () => {
    local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
    cluster = createCluster({ shards: local.shards, log: 'pg-0', prefix: PREFIX, recovery: { enabled: false, graceMs: 0 } })
    await cluster.migrate()
    for (const s of local.shards) await cluster.forShard(s.id).schema.createTable('rows', (t) => t.integer('id').primary())
    factory = new BranchFactory(local.shards, PREFIX)
  }, 60_000)
  afterAll(async () => {
    await factory?.close()
    await cluster?.close()
    await local?.destroy()
  })

  it('reports a down log shard and decides nothing until it is back', async () => {
    const txId = BranchFactory.oldTxId()
    await factory.prepare('my-0', txId, { table: 'rows', row: { id: 1 } })
    await local.kill('pg-0')
    const report = await cluster.recover()
    expect(report.failed.map((f) => f.shardId)).toContain('pg-0')
    expect(report.committed).toEqual([])
    expect(report.rolledBack).toEqual([])
    await local.restart('pg-0')
    const later = await cluster.recover()
    expect(later.rolledBack).toEqual([{ txId, shardId: 'my-0' }])
  })

  it('keeps a commit record while a participant is down, and finishes the branch when it returns', async () => {
    const txId = BranchFactory.oldTxId()
    await factory.prepare('my-0', txId, { table: 'rows', row: { id: 2 } })
    await cluster.forShard('pg-0')('shardtx_log').insert({ tx_id: txId, decision: 'commit', participants: 'my-0', created_at: Date.now() })
    await local.kill('my-0')
    const report = await cluster.recover()
    expect(report.failed.map((f) => f.shardId)).toContain('my-0')
    // Deleting the record now would let presumed abort roll back a committed branch later.
    expect(report.forgotten).toBe(0)
    expect(await cluster.forShard('pg-0')('shardtx_log').where({ tx_id: txId })).toHaveLength(1)
    await local.restart('my-0')
    const later = await cluster.recover()
    expect(later.committed).toEqual([{ txId, shardId: 'my-0' }])
    expect(later.forgotten).toBe(1)
    expect(await cluster.forShard('my-0')('rows').where({ id: 2 })).toHaveLength(1)
  })

  it('runs in the background, survives a shard being down, and settles once it is back', async () => {
    const warnings: string[] = []
    const background = createCluster({
      shards: local.shards,
      log: 'pg-0',
      prefix: PREFIX,
      recovery: { intervalMs: 100, graceMs: 0 },
      logger: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }),
    })
    try {
      const txId = BranchFactory.oldTxId()
      await factory.prepare('pg-0', txId, { table: 'rows', row: { id: 3 } })
      await local.kill('my-0')
      // Rounds fail on my-0 meanwhile (wait until one has said so); none may throw out of the timer.
      const roundFailedOnMy0 = (line: string) => line.includes('recovery could not reach some shards') && line.includes('"my-0"')
      await vi.waitFor(() => expect(warnings.some(roundFailedOnMy0)).toBe(true), { timeout: 20_000 })
      await local.restart('my-0')
      for (let i = 0; i < 100 && background.stats().recovered.rolledBack === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(background.stats().recovered.rolledBack).toBe(1)
      expect(await cluster.inDoubt()).toEqual([])
    } finally {
      await background.close()
    }
  })
})
