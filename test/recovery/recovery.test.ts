import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCluster, ShardTxError } from '../../src/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']

describe('recovery on the shared servers', () => {
  let t: TestCluster
  let factory: BranchFactory
  let rows: string

  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'pg-0', recovery: { enabled: false, graceMs: 0 } })
    rows = t.table('rows')
    await Promise.all(
      SHARDS.map((s) =>
        t.cluster.forShard(s).schema.createTable(rows, (table) => {
          table.integer('id').primary()
        }),
      ),
    )
  })
  afterAll(async () => {
    await factory?.close()
    await Promise.all(SHARDS.map((s) => t.cluster.forShard(s).schema.dropTableIfExists(rows)))
    await t.close()
  })

  async function branches(): Promise<BranchFactory> {
    factory ??= new BranchFactory(sharedShards(), t.prefix)
    return factory
  }

  async function present(shardId: string, id: number): Promise<boolean> {
    return (await t.cluster.forShard(shardId)(rows).where({ id })).length === 1
  }

  it('rolls back abandoned branches with no decision, and records the abort', async () => {
    const f = await branches()
    const txId = BranchFactory.oldTxId()
    await f.prepare('pg-1', txId, { table: rows, row: { id: 1 } })
    await f.prepare('my-1', txId, { table: rows, row: { id: 1 } })
    const listed = await t.cluster.inDoubt()
    expect(listed.filter((b) => b.txId === txId).map((b) => b.shardId).sort()).toEqual(['my-1', 'pg-1'])
    expect(listed.find((b) => b.txId === txId)!.decision).toBeUndefined()

    const report = await t.cluster.recover()
    expect(report.rolledBack.filter((b) => b.txId === txId).map((b) => b.shardId).sort()).toEqual(['my-1', 'pg-1'])
    expect(await present('pg-1', 1)).toBe(false)
    expect(await present('my-1', 1)).toBe(false)
    expect((await t.logRecords()).find((r) => r.tx_id === txId)?.decision).toBe('abort')
    expect(await t.cluster.inDoubt()).toEqual([])
  })

  it('commits abandoned branches whose commit record exists, then forgets the record', async () => {
    const f = await branches()
    const txId = BranchFactory.oldTxId()
    await f.prepare('pg-1', txId, { table: rows, row: { id: 2 } })
    await f.prepare('my-0', txId, { table: rows, row: { id: 2 } })
    await t.cluster.forShard('pg-0')(t.logTable).insert({
      tx_id: txId,
      decision: 'commit',
      participants: 'pg-1,my-0',
      created_at: Date.now(),
    })
    expect((await t.cluster.inDoubt()).find((b) => b.txId === txId)!.decision).toBe('commit')
    const report = await t.cluster.recover()
    expect(report.committed.filter((b) => b.txId === txId)).toHaveLength(2)
    expect(report.forgotten).toBeGreaterThanOrEqual(1)
    expect(await present('pg-1', 2)).toBe(true)
    expect(await present('my-0', 2)).toBe(true)
    expect((await t.logRecords()).find((r) => r.tx_id === txId)).toBeUndefined()
  })

  it('skips branches whose coordinator may still decide', async () => {
    const f = await branches()
    const young = BranchFactory.oldTxId(-60_000)
    await f.prepare('pg-1', young, { table: rows, row: { id: 3 } })
    const report = await t.cluster.recover()
    expect(report.skipped).toContainEqual({ txId: young, shardId: 'pg-1', reason: 'young' })
    expect((await t.cluster.inDoubt()).map((b) => b.txId)).toContain(young)
    // By hand, the operator may abort it through the same fence.
    const byHand = await t.cluster.resolve(young, 'abort')
    expect(byHand.rolledBack).toEqual([{ txId: young, shardId: 'pg-1' }])
    expect(await present('pg-1', 3)).toBe(false)
  })

  it('skips a MySQL branch while the connection that prepared it is open', async () => {
    const f = await branches()
    const txId = BranchFactory.oldTxId()
    const close = await f.prepare('my-1', txId, { table: rows, row: { id: 4 } }, true)
    const first = await t.cluster.recover()
    expect(first.skipped).toContainEqual({ txId, shardId: 'my-1', reason: 'busy' })
    close()
    let second = await t.cluster.recover()
    for (let i = 0; i < 20 && second.rolledBack.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      second = await t.cluster.recover()
    }
    expect(second.rolledBack).toEqual([{ txId, shardId: 'my-1' }])
  })

  it('refuses to contradict a logged decision by hand', async () => {
    const f = await branches()
    const committed = BranchFactory.oldTxId()
    await f.prepare('pg-1', committed, { table: rows, row: { id: 5 } })
    await t.cluster.forShard('pg-0')(t.logTable).insert({ tx_id: committed, decision: 'commit', participants: 'pg-1', created_at: Date.now() })
    await expect(t.cluster.resolve(committed, 'abort')).rejects.toMatchObject({ code: 'CONTRADICTS_DECISION' })

    const undecided = BranchFactory.oldTxId()
    await f.prepare('my-0', undecided, { table: rows, row: { id: 5 } })
    // Without a commit record nobody knows every branch was prepared: committing is refused.
    await expect(t.cluster.resolve(undecided, 'commit')).rejects.toBeInstanceOf(ShardTxError)
    await expect(t.cluster.resolve('not-an-id', 'abort')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    // Whatever the caller passes: typed, never a TypeError, and a long id is not echoed whole.
    await expect(t.cluster.resolve(Symbol('x') as never, 'abort')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(t.cluster.resolve('x'.repeat(100_000), 'abort')).rejects.toThrow(/^"x{80}…" is not a shardtx transaction id$/)
    await expect(t.cluster.resolve(undecided, 'abort', { forced: true } as never)).rejects.toThrow(/forced: unknown option/)

    expect((await t.cluster.resolve(committed, 'commit')).committed).toEqual([{ txId: committed, shardId: 'pg-1' }])
    expect((await t.cluster.resolve(undecided, 'abort')).rolledBack).toEqual([{ txId: undecided, shardId: 'my-0' }])
    expect(await present('pg-1', 5)).toBe(true)
    expect(await present('my-0', 5)).toBe(false)
  })

  it('deletes abort records after their retention and commit records with no branch left', async () => {
    const log = t.cluster.forShard('pg-0')(t.logTable)
    const old = BranchFactory.oldTxId(3 * 86_400_000)
    const recent = BranchFactory.oldTxId()
    const done = BranchFactory.oldTxId()
    await t.cluster.forShard('pg-0')(t.logTable).insert([
      { tx_id: old, decision: 'abort', participants: '', created_at: Date.now() - 2 * 86_400_000 },
      { tx_id: recent, decision: 'abort', participants: '', created_at: Date.now() },
      { tx_id: done, decision: 'commit', participants: 'pg-1,my-1', created_at: Date.now() },
    ])
    const report = await t.cluster.recover()
    expect(report.expired).toBe(1)
    expect(report.forgotten).toBeGreaterThanOrEqual(1)
    const left = (await log.clone().whereIn('tx_id', [old, recent, done])).map((r: { tx_id: string }) => r.tx_id)
    expect(left).toEqual([recent])
  })
})

describe('two recoverers racing live coordinators', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: 'my-0' })
  })
  afterAll(() => t.close())

  it('never split an outcome', async () => {
    const transfers = t.table('transfers')
    await Promise.all(
      SHARDS.map((s) =>
        t.cluster.forShard(s).schema.createTable(transfers, (table) => {
          table.integer('id').primary()
        }),
      ),
    )
    // Recoverers report each transaction they fence; a coordinator may wait for that.
    const fenced = new Set<string>()
    const fenceWaiters = new Map<string, () => void>()
    const recoverers = [0, 1].map(() =>
      createCluster({
        shards: sharedShards(),
        log: 'my-0',
        prefix: t.prefix,
        logTable: t.logTable,
        recovery: { enabled: false, graceMs: 0 },
        onStep: (e) => {
          if (e.step !== 'recover-fenced') return
          fenced.add(e.txId)
          fenceWaiters.get(e.txId)?.()
        },
      }),
    )
    const pairs = [
      ['pg-0', 'pg-1'],
      ['my-0', 'pg-1'],
      ['my-0', 'my-1'],
      ['pg-0', 'my-1'],
    ] as const
    // Each coordinator stops at `decide` until past its deadline, as a frozen process
    // would; then half of them write their decision at once, racing the recoverers'
    // fence, and half wait until a recoverer has fenced them first.
    let decideCount = 0
    const coordinator = createCluster({
      shards: sharedShards(),
      log: 'my-0',
      prefix: t.prefix,
      logTable: t.logTable,
      recovery: false,
      onStep: async (e) => {
        if (e.step !== 'decide') return
        const waitForFence = decideCount++ % 2 === 0
        await new Promise((resolve) => setTimeout(resolve, 5_100))
        if (waitForFence && !fenced.has(e.txId)) await new Promise<void>((resolve) => fenceWaiters.set(e.txId, resolve))
      },
    })
    let racing = true
    const racers = recoverers.map(async (r) => {
      while (racing) await r.recover()
    })
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, async (_, id) => {
        const [a, b] = pairs[id % pairs.length]!
        try {
          await coordinator.transaction(
            async (tx) => {
              await tx.forShard(a)(transfers).insert({ id })
              await tx.forShard(b)(transfers).insert({ id })
            },
            { timeout: 5_000 },
          )
          return { id, a, b, caller: 'committed' }
        } catch (error) {
          return { id, a, b, caller: (error as Error).name, why: (error as Error).message }
        }
      }),
    )
    racing = false
    await Promise.all(racers)
    // The race must have happened: some coordinators lost to a recoverer's fence.
    expect(outcomes.some((o) => 'why' in o && /fenced/.test(o.why ?? ''))).toBe(true)
    await coordinator.close()
    for (let i = 0; i < 20 && (await recoverers[0]!.inDoubt()).length > 0; i++) await recoverers[0]!.recover()
    expect(await recoverers[0]!.inDoubt()).toEqual([])
    for (const o of outcomes) {
      const onA = (await t.cluster.forShard(o.a)(transfers).where({ id: o.id })).length
      const onB = (await t.cluster.forShard(o.b)(transfers).where({ id: o.id })).length
      expect(onA, `transfer ${o.id}`).toBe(onB)
      if (o.caller === 'committed') expect(onA, `transfer ${o.id}`).toBe(1)
      if (o.caller === 'TransactionAbortedError') expect(onA, `transfer ${o.id}`).toBe(0)
    }
    await Promise.all(recoverers.map((r) => r.close()))
    await Promise.all(SHARDS.map((s) => t.cluster.forShard(s).schema.dropTableIfExists(transfers)))
  })
})
