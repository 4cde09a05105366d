import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createParticipant } from '../../adapters/index.js'
import { resolveClusterOptions } from '../../src/config/cluster-options.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { silentLogger } from '../../src/logger.js'
import type { Participant } from '../../src/protocol/participant.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { lockWaiters, untilServer } from '../support/server-activity.js'
import { sharedShards } from '../support/shared-cluster.js'

const oldTx = (): string => newTransactionId(Date.now() - 60_000, 1_000)
const requests = (ids: string[]) => ids.map((txId) => ({ txId, participants: ['pg-1', 'my-1'] }))

/**
 * Recovery fences the abandoned transactions of a batch with one statement. Each
 * must end exactly as a fence of its own would: an existing decision stands, a
 * missing one becomes abort, and a coordinator's uncommitted commit record is
 * waited for, not overtaken.
 */
describe.each(['pg-0', 'my-0'])('fencing a batch on log shard %s', (logShard) => {
  let t: TestCluster
  let log: Participant

  beforeAll(async () => {
    t = await startTestCluster(sharedShards(), { log: logShard })
    const config = resolveClusterOptions({ shards: sharedShards(), log: logShard, prefix: t.prefix, logTable: t.logTable })
    const shard = config.shards.find((s) => s.id === logShard)!
    log = createParticipant(shard.dialect, {
      shardId: shard.id,
      prefix: t.prefix,
      logTable: t.logTable,
      connection: shard.connection,
      pool: { max: 10 },
      acquireTimeoutMs: 10_000,
      connectTimeoutMs: config.connectTimeoutMs,
      keepAliveDelayMs: config.keepAliveDelayMs,
      timeouts: config.timeouts,
      logger: silentLogger,
    })
  })
  afterAll(async () => {
    await log?.close()
    await t.close()
  })

  const insert = (txId: string, decision: 'commit' | 'abort') =>
    t.cluster.forShard(logShard)(t.logTable).insert({ tx_id: txId, decision, participants: 'pg-1,my-1', created_at: Date.now() })

  it('keeps existing decisions, records abort for the rest, and answers every transaction once', async () => {
    const [committed, aborted, fresh1, fresh2] = [oldTx(), oldTx(), oldTx(), oldTx()]
    await insert(committed, 'commit')
    await insert(aborted, 'abort')
    const decided = await log.fenceAbort(requests([fresh1, committed, fresh2, aborted, fresh1]), Date.now())
    expect(Object.fromEntries(decided)).toEqual({ [committed]: 'commit', [aborted]: 'abort', [fresh1]: 'abort', [fresh2]: 'abort' })
    const records = await log.readDecisions([committed, aborted, fresh1, fresh2])
    expect(Object.fromEntries(records.map((r) => [r.txId, r.decision]))).toEqual(Object.fromEntries(decided))
    expect(records.find((r) => r.txId === fresh1)!.participants).toEqual(['pg-1', 'my-1'])
  })

  it('waits for a coordinator holding an uncommitted commit record, then reports its commit', async () => {
    const [coordinated, abandoned] = [oldTx(), oldTx()]
    let coordinatorCommitted = false
    const coordinator = await t.cluster.forShard(logShard).transaction()
    await coordinator(t.logTable).insert({ tx_id: coordinated, decision: 'commit', participants: 'pg-1,my-1', created_at: Date.now() })
    const fence = log.fenceAbort(requests([abandoned, coordinated]), Date.now()).then((decided) => {
      expect(coordinatorCommitted).toBe(true)
      return decided
    })
    // The fence's insert is blocked on the coordinator's uncommitted key, as the server sees it.
    const dialect = logShard.startsWith('pg-') ? 'postgres' : 'mysql'
    await untilServer('the fence waits on the uncommitted commit record', async () =>
      (await lockWaiters(t.cluster.forShard(logShard), dialect, t.logTable)) > 0)
    coordinatorCommitted = true
    await coordinator.commit()
    expect(Object.fromEntries(await fence)).toEqual({ [coordinated]: 'commit', [abandoned]: 'abort' })
  })

  it('lets two recoverers fence overlapping batches in opposite orders without a deadlock, agreeing on each', async () => {
    for (let round = 0; round < 5; round++) {
      const ids = Array.from({ length: 200 }, oldTx)
      const committed = ids.filter((_, i) => i % 7 === 0)
      await Promise.all(committed.map((id) => insert(id, 'commit')))
      const [a, b] = await Promise.all([
        log.fenceAbort(requests(ids.slice(0, 150)), Date.now()),
        log.fenceAbort(requests(ids.slice(50).reverse()), Date.now()),
      ])
      for (const id of ids.slice(50, 150)) expect(a.get(id)).toBe(b.get(id))
      for (const id of ids) expect(a.get(id) ?? b.get(id)).toBe(committed.includes(id) ? 'commit' : 'abort')
    }
  })
})
