import { afterEach, describe, expect, test } from 'vitest'
import { type Cluster, ConfigError, createCluster, isRetryable, TopologyChangeBlockedError } from '../../src/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/** Both directions: the log from PostgreSQL to MariaDB, and back; a third shard of the log's dialect. */
const DIRECTIONS = [
  { from: 'pg-0', to: 'my-0', third: 'pg-1' },
  { from: 'my-0', to: 'pg-0', third: 'my-1' },
] as const

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

function shardsOf(ids: readonly string[]) {
  return sharedShards().filter((s) => ids.includes(s.id))
}

/** Another process of the same cluster: same prefix and log table, the log it is configured with. */
function processOf(t: TestCluster, ids: readonly string[], log: string, extra: Partial<Parameters<typeof createCluster>[0]> = {}): Cluster {
  const cluster = createCluster({ shards: shardsOf(ids), log, prefix: t.prefix, logTable: t.logTable, recovery: false, topology: 'follow', ...extra })
  opened.push(cluster)
  return cluster
}

/** A test cluster over `shardIds` (closed after the test) with an accounts-like table on `accountShards`. */
async function clusterWith(
  shardIds: readonly string[],
  options: Parameters<typeof startTestCluster>[1],
  name: string,
  accountShards: string[],
  rows: { id: number; balance: number }[],
): Promise<{ t: TestCluster; table: string }> {
  const t = await startTestCluster(shardsOf(shardIds), options)
  opened.push(t)
  const table = t.table(name)
  await t.createAccounts(table, accountShards, rows)
  return { t, table }
}

async function total(t: TestCluster, table: string, ids: readonly string[]): Promise<number> {
  let sum = 0
  for (const id of ids) for (const balance of (await t.balances(table, id)).values()) sum += balance
  return sum
}

/** Moves 1 from one shard's row to another's, in one two-phase transaction, retried on retryable errors. */
async function transfer(cluster: Cluster, table: string, ids: readonly string[], n: number): Promise<void> {
  const a = ids[n % ids.length]!
  const b = ids[(n + 1) % ids.length]!
  await cluster.transaction(
    async (tx) => {
      await tx.forShard(a)(table).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard(b)(table).where({ id: 1 }).increment('balance', 1)
    },
    { retry: { attempts: 50 }, timeout: 5_000 },
  )
}

describe.each(DIRECTIONS)('moving the log from $from to $to', ({ from, to, third }) => {
  const ids = [from, to, third] as const

  test('while transfers run: totals kept, the old-log process follows and keeps committing, then the old log shard is removed by a reshard', async () => {
    const { t, table } = await clusterWith(ids, { log: from }, 'acct', [...ids], [{ id: 1, balance: 1_000 }])
    const app = processOf(t, ids, from)
    const ops = processOf(t, ids, from)
    const lateOps = processOf(t, ids, from)
    await app.transaction(async () => {}) // loads epoch 1 with log `from`
    await lateOps.topology() // and so does an operator process that will change the topology after the move
    const before = await total(t, table, ids)

    let running = true
    const errors: unknown[] = []
    let committed = 0
    const workers = [app, t.cluster].map(async (cluster, w) => {
      for (let n = w; running; n += 2) {
        try {
          await transfer(cluster, table, ids, n)
          committed++
        } catch (error) {
          errors.push(error)
        }
      }
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const atMove = committed
    const moved = await ops.moveLog(to, { timeoutMs: 20_000 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    running = false
    await Promise.all(workers)

    expect(moved.from.logShardId).toBe(from)
    expect(moved.to).toMatchObject({ epoch: moved.from.epoch + 1, logShardId: to })
    expect(moved.fenced).toEqual([...ids].sort())
    expect(errors.filter((e) => !isRetryable(e))).toEqual([])
    expect(errors).toEqual([])
    expect(committed).toBeGreaterThan(atMove)
    expect(await total(t, table, ids)).toBe(before)

    // The process configured with the old log followed the pointer: it decides on the new one.
    const report = await app.topology()
    expect(report).toMatchObject({ epoch: moved.to.epoch, logShardId: to })
    expect(report.fences.every((f) => f.epoch === moved.to.epoch)).toBe(true)
    const decided: string[] = []
    const watcher = processOf(t, ids, from, { onStep: (e) => void (e.step === 'decided' ? decided.push(e.txId) : undefined) })
    await transfer(watcher, table, ids, 0)
    expect(decided).toHaveLength(1)
    expect((await app.topology()).logShardId).toBe(to)
    // Fresh processes configured either way agree.
    expect((await processOf(t, ids, to).topology()).logShardId).toBe(to)
    expect((await processOf(t, ids, from).topology()).epoch).toBe(moved.to.epoch)
    // The history is on the new log: epochs 1 .. E+1.
    const history = (await t.cluster.forShard(to)(`${t.logTable}_topology`).select('epoch').orderBy('epoch')) as { epoch: number }[]
    expect(history.map((r) => Number(r.epoch))).toEqual([...Array(moved.to.epoch).keys()].map((i) => i + 1))
    expect(await app.inDoubt()).toEqual([])

    // A change made by a process that has not followed yet lands on the new log, not the old.
    const reweighed = await lateOps.setTopology(moved.to.shards.map((s) => ({ id: s.id, weight: s.id === third ? 2 : 1 })))
    expect(reweighed.to).toMatchObject({ epoch: moved.to.epoch + 1, logShardId: to })
    const onOld = (await t.cluster.forShard(from)(`${t.logTable}_topology`).max({ epoch: 'epoch' }).first()) as { epoch: number }
    expect(Number(onOld.epoch)).toBe(moved.to.epoch)
    expect((await app.topology()).epoch).toBe(moved.to.epoch + 1)

    // Now the old log shard can go, by an ordinary reshard run from a process configured with the new log.
    const after = processOf(t, ids, to)
    const remaining = moved.to.shards.filter((s) => s.id !== from).map((s) => ({ id: s.id }))
    await after.reshard(remaining)
    expect((await after.topology()).shards.map((s) => s.id)).toEqual([to, third].sort())
    await transfer(after, table, [to, third], 1)
  })

  test('the log moves back: the old log keeps its history and takes the new epochs; a process configured either way follows', async () => {
    const { t, table } = await clusterWith(ids, { log: from }, 'acct', [...ids], [{ id: 1, balance: 10 }])
    const ops = processOf(t, ids, from)
    expect((await ops.moveLog(to)).to).toMatchObject({ epoch: 2, logShardId: to })
    await transfer(ops, table, ids, 0)
    const back = await ops.moveLog(from)
    expect(back.to).toMatchObject({ epoch: 3, logShardId: from })
    const epochsOn = async (id: string) =>
      ((await t.cluster.forShard(id)(`${t.logTable}_topology`).select('epoch', 'log_shard').orderBy('epoch')) as { epoch: number; log_shard: string }[]).map((r) => [
        Number(r.epoch),
        r.log_shard,
      ])
    expect(await epochsOn(from)).toEqual([
      [1, from],
      [2, to],
      [3, from],
    ])
    expect(await epochsOn(to)).toEqual([
      [1, from],
      [2, to],
      [3, from],
    ])
    for (const log of [from, to]) {
      const p = processOf(t, ids, log)
      await transfer(p, table, ids, 1)
      expect((await p.topology()).logShardId).toBe(from)
    }
    expect(await total(t, table, ids)).toBe(30)
  })

  test('a stale recoverer decides a branch of the new epoch on the log its shard fence names', async () => {
    const { t, table } = await clusterWith(ids, { log: from, recovery: { enabled: false, graceMs: 0 } }, 'rows', [third], [])
    const stale = processOf(t, ids, from, { recovery: { enabled: false, graceMs: 0 } })
    await stale.transaction(async () => {}) // at epoch 1, log `from`, and stays there
    await processOf(t, ids, from).moveLog(to)

    // A coordinator at the new epoch decided commit on the new log and died before COMMIT PREPARED.
    const factory = new BranchFactory(shardsOf(ids), t.prefix)
    opened.push(factory)
    const txId = BranchFactory.oldTxId()
    await factory.prepare(third, txId, { table, row: { id: 7, balance: 7 } })
    await t.cluster.forShard(to)(t.logTable).insert({ tx_id: txId, decision: 'commit', participants: third, created_at: Date.now() })

    // The operator API reads and decides on the same log as recovery.
    expect((await stale.inDoubt()).map((b) => [b.txId, b.shardId, b.decision])).toEqual([[txId, third, 'commit']])
    await expect(stale.resolve(txId, 'abort')).rejects.toMatchObject({ code: 'CONTRADICTS_DECISION' })

    const report = await stale.recover()
    expect(report.committed).toEqual([{ txId, shardId: third }])
    expect(await t.balances(table, third)).toEqual(new Map([[7, 7]]))
    // Nothing was decided on the old log for it.
    expect(await t.cluster.forShard(from)(t.logTable).where({ tx_id: txId })).toEqual([])
    expect((await stale.topology()).logShardId).toBe(to)
  })

  test('an in-doubt branch left before the move blocks it, reported, until it is recovered', async () => {
    const { t, table } = await clusterWith(ids, { log: from, recovery: { enabled: false, graceMs: 0 } }, 'rows', [third], [])
    await t.cluster.transaction(async () => {})
    const factory = new BranchFactory(shardsOf(ids), t.prefix)
    opened.push(factory)
    const txId = BranchFactory.oldTxId()
    await factory.prepare(third, txId, { table, row: { id: 1, balance: 1 } })

    const blocked = t.cluster.moveLog(to, { timeoutMs: 1_000 })
    await expect(blocked).rejects.toBeInstanceOf(TopologyChangeBlockedError)
    await expect(blocked).rejects.toThrow(new RegExp(txId))
    expect(await t.cluster.topology()).toMatchObject({ epoch: 1, logShardId: from })

    const report = await t.cluster.recover()
    expect(report.rolledBack).toEqual([{ txId, shardId: third }])
    const moved = await t.cluster.moveLog(to)
    expect(moved.to).toMatchObject({ epoch: 2, logShardId: to })
  })

  test('a coordinator frozen at its decision holds the move off (its prepared branches keep their fences) until recovery fences it; woken, it cannot commit on the old log', async () => {
    const { t, table } = await clusterWith(ids, { log: from, recovery: { enabled: false, graceMs: 0 } }, 'rows', [to, third], [])
    let wake: () => void = () => {}
    const woken = new Promise<void>((resolve) => (wake = resolve))
    const frozen = processOf(t, ids, from, { onStep: async (e) => void (e.step === 'decide' ? await woken : undefined) })
    let txId = ''
    const outcome = frozen
      .transaction(
        async (tx) => {
          txId = tx.id
          await tx.forShard(to)(table).insert({ id: 1, balance: 1 })
          await tx.forShard(third)(table).insert({ id: 1, balance: 1 })
        },
        { timeout: 1_000 },
      )
      .then(
        () => 'committed',
        (error: unknown) => error as Error,
      )
    await new Promise((resolve) => setTimeout(resolve, 300))
    await expect(t.cluster.moveLog(to, { timeoutMs: 500 })).rejects.toBeInstanceOf(TopologyChangeBlockedError)
    // Once past its deadline, recovery fences it.
    let report = await t.cluster.recover()
    for (let i = 0; i < 50 && report.skipped.some((b) => b.reason === 'young'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      report = await t.cluster.recover()
    }
    // A MariaDB branch whose preparing connection is still open is busy (1397): the frozen process owns it.
    const busy = report.skipped.filter((b) => b.reason === 'busy')
    expect(report.rolledBack.length + busy.length).toBe(2)
    if (busy.length > 0) {
      await expect(t.cluster.moveLog(to, { timeoutMs: 500 })).rejects.toBeInstanceOf(TopologyChangeBlockedError)
      wake()
    }
    const moved = await t.cluster.moveLog(to)
    expect(moved.to.logShardId).toBe(to)
    wake()
    const result = await outcome
    expect(result).toBeInstanceOf(Error)
    expect((result as Error).message).toMatch(/fenced/)
    // The abort record that fenced it stays on the old log (docs/moving-the-log.md).
    expect(await t.cluster.forShard(from)(t.logTable).where({ tx_id: txId }).select('decision')).toEqual([{ decision: 'abort' }])
    expect(await t.balances(table, to)).toEqual(new Map())
    expect(await t.balances(table, third)).toEqual(new Map())
  })

  test('bad input is a typed error that changes nothing', async () => {
    const spare = sharedShards().find((s) => !ids.includes(s.id as never))!.id
    const t = await startTestCluster(shardsOf([...ids, spare]), { log: from })
    opened.push(t)
    const ops = processOf(t, ids, from, { shards: shardsOf([...ids, spare]) })
    await ops.setTopology(ids.map((id) => ({ id }))) // the spare shard is configured, not routed
    const { epoch } = await ops.topology()
    const unchanged = async (): Promise<void> => {
      expect(await ops.topology()).toMatchObject({ epoch, logShardId: from, pending: undefined })
      const rows = await t.cluster.forShard(to)(`${t.logTable}_topology`).select().catch(() => [])
      expect(rows).toEqual([])
    }
    await expect(ops.moveLog('nowhere')).rejects.toThrow(/unknown shard "nowhere"/)
    await expect(ops.moveLog(from)).rejects.toThrow(/is the log shard already/)
    await expect(ops.moveLog(spare)).rejects.toThrow(/is not in the topology/)
    await expect(ops.moveLog(to, { lockWaitMs: -1 })).rejects.toBeInstanceOf(ConfigError)
    await unchanged()

    // A job in progress (cancelled midway: routing stays midway).
    const table = t.table('items')
    await t.createAccounts(table, [...ids, spare], [])
    const mover = processOf(t, ids, from, { shards: shardsOf([...ids, spare]), tables: { [table]: { shardKey: 'id' } } })
    await mover.reshard([...ids, spare].map((id) => ({ id })), { maxBatches: 1, dutyCycle: 1 })
    await mover.cancelReshard()
    const refused = mover.moveLog(to)
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow(/resharding job .* is in progress/)
    await mover.reverseReshard({ dutyCycle: 1 })
    expect(await t.cluster.forShard(to)(`${t.logTable}_topology`).select().catch(() => [])).toEqual([])

    // Removing the log shard is refused, naming the way.
    await expect(ops.setTopology([{ id: to }, { id: third }])).rejects.toThrow(/moveLog\(<shard>\).*shardtx topology move-log/)
    await expect(ops.reshard([{ id: to }, { id: third }])).rejects.toThrow(/moveLog\(<shard>\)/)

    // With the job reversed the log moves, and the job's history goes with it.
    const job = await mover.reshardStatus()
    expect(job?.state).toBe('reversed')
    await mover.moveLog(to)
    const onNewLog = processOf(t, ids, to, { shards: shardsOf([...ids, spare]) })
    expect(await onNewLog.reshardStatus()).toEqual(job)
  })

  test('a process configured with the new log before the move is refused and writes nothing', async () => {
    const t = await startTestCluster(shardsOf(ids), { log: from })
    opened.push(t)
    await t.cluster.transaction(async () => {})
    const early = processOf(t, ids, to)
    await early.migrate()
    await expect(early.transaction(async () => {})).rejects.toThrow(new RegExp(`fenced by the topology of log shard ${from}.*moveLog\\('${to}'\\)`))
    expect(await t.cluster.forShard(to)(`${t.logTable}_topology`).select()).toEqual([])
    const fences = (await t.cluster.topology()).fences
    expect(fences.map((f) => f.epoch)).toEqual([1, 1, 1])
    // After the move it is the right configuration.
    await t.cluster.moveLog(to)
    await early.transaction(async (tx) => {
      await tx.forShard(third).raw('select 1')
    })
    expect((await early.topology()).logShardId).toBe(to)
  })
})
