import { afterEach, describe, expect, test } from 'vitest'
import { comparePlacementReports, ConfigError, StaleTopologyError, TopologyChangeBlockedError } from '../../src/index.js'
import { sharedShards } from '../support/shared-cluster.js'
import { closedPort } from '../reliability/leak-checks.js'
import { createCluster, ShardUnavailableError } from '../../src/index.js'
import { type ReshardBank, startReshardBank } from './reshard-fixture.js'

const banks: ReshardBank[] = []
afterEach(async () => {
  await Promise.all(banks.splice(0).map((b) => b.close()))
})

async function transfers(bank: ReshardBank, count: number, accounts: number): Promise<number> {
  let committed = 0
  for (let i = 0; i < count; i++) {
    const from = (i * 7) % accounts
    const to = (i * 13 + 5) % accounts
    if (from === to) continue
    await bank.cluster.transaction(
      async (tx) => {
        await tx.table(bank.accounts).where({ id: from }).decrement('balance', 1)
        await tx.table(bank.accounts).where({ id: to }).increment('balance', 1)
      },
      { retry: { attempts: 50 } },
    )
    committed++
  }
  return committed
}

describe('resharding', () => {
  test('adding a shard of the other dialect moves every row to its owner while transfers run, conserving the total', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const every = [pg[0]!, my[0]!, my[1]!]
    const bank = await startReshardBank(routed, every, 300)
    banks.push(bank)
    const plan = await bank.cluster.reshardPlan([...routed.map((s) => ({ id: s.id })), { id: my[1]!.id }], { batchSize: 40 })
    expect(plan.problems).toEqual([])
    expect(plan.added).toEqual([my[1]!.id])
    const planned = plan.rows.reduce((sum, r) => sum + r.rows, 0)
    expect(planned).toBeGreaterThan(0)
    expect(plan.batches.length).toBeGreaterThan(1)
    // The dry run wrote nothing: no job, no rows on the new shard.
    expect(await bank.cluster.reshardStatus()).toBeUndefined()
    expect((await bank.allAccounts()).filter((a) => a.shardId === my[1]!.id)).toEqual([])

    const stale = bank.sibling(every, { topology: 'follow' })
    await stale.transaction(async () => {}) // loads the topology before the job

    const running = transfers(bank, 120, 300)
    const progress: number[] = []
    const result = await bank.cluster.reshard([...routed.map((s) => ({ id: s.id })), { id: my[1]!.id }], {
      batchSize: 40,
      onProgress: (p) => progress.push(p.done),
    })
    expect(await running).toBeGreaterThan(100)
    expect(result.state).toBe('done')
    expect(result.done).toBe(result.total)
    expect(progress.at(-1)).toBe(result.total)

    const all = await bank.allAccounts()
    expect(all).toHaveLength(300)
    expect(new Set(all.map((a) => a.id)).size).toBe(300)
    expect(all.reduce((sum, a) => sum + a.balance, 0)).toBe(300 * 100)
    for (const a of all) expect(a.shardId).toBe(bank.cluster.shardFor(a.id))
    expect(all.filter((a) => a.shardId === my[1]!.id).length).toBeGreaterThan(0)
    const report = await bank.cluster.verifyPlacement()
    expect(report.misplaced).toEqual([])
    expect(report.tables[0]!.rows).toBe(300)
    // The reference table reached the added shard before it took any slot.
    expect(await bank.cluster.forShard(my[1]!.id)(bank.currencies).orderBy('code').pluck('code')).toEqual(['EUR', 'USD'])

    // The process that routed by the epoch before the job is refused, then reloads and writes to the new owner.
    const moved = all.find((a) => a.shardId === my[1]!.id)!
    await expect(stale.transaction((tx) => tx.forKey(moved.id)(bank.accounts).where({ id: moved.id }).increment('balance', 0))).rejects.toBeInstanceOf(
      StaleTopologyError,
    )
    await stale.transaction((tx) => tx.table(bank.accounts).where({ id: moved.id }).increment('balance', 1), { retry: { attempts: 5 } })
    expect((await bank.cluster.forShard(my[1]!.id)(bank.accounts).where({ id: moved.id }).first()).balance).toBe(moved.balance + 1)
  })

  test('two processes starting the same job at once: one starts it, the other joins it, and both see it done', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const every = [pg[0]!, my[0]!, pg[1]!]
    const bank = await startReshardBank(routed, every, 200)
    banks.push(bank)
    const other = bank.sibling(every, { topology: 'follow' })
    const target = [...routed, pg[1]!].map((s) => ({ id: s.id }))
    // Both read the topology before either has published its first step: the slower one's step is
    // overtaken (its fences raised past it, or the epoch taken), and it joins the job instead of failing.
    const [a, b] = await Promise.all([bank.cluster.reshard(target, { batchSize: 40 }), other.reshard(target, { batchSize: 40 })])
    expect([a.state, b.state]).toEqual(['done', 'done'])
    expect(a.jobId).toBe(b.jobId)
    const rows = await bank.allAccounts()
    expect(rows).toHaveLength(200)
    expect(rows.filter((r) => bank.cluster.shardFor(r.id) !== r.shardId)).toEqual([])
  })

  test('cancel stops at a batch boundary; reverse moves the done batches back and restores the checksums; a repeated job keeps them', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, pg[1]!, my[0]!]
    const every = routed
    const bank = await startReshardBank(routed, every, 200)
    banks.push(bank)
    const before = await bank.cluster.verifyPlacement()
    const target = [{ id: pg[0]!.id }, { id: my[0]!.id }] // removes pg-1
    const partial = await bank.cluster.reshard(target, { batchSize: 20, maxBatches: 2 })
    expect(partial.state).toBe('running')
    expect(partial.done).toBe(2)
    const cancelled = await bank.cluster.cancelReshard()
    expect(cancelled.state).toBe('cancelled')
    const midway = await bank.cluster.verifyPlacement()
    expect(midway.misplaced).toEqual([])
    expect(midway.tables).toEqual(before.tables)
    const reversed = await bank.cluster.reverseReshard({ batchSize: 20 })
    expect(reversed.state).toBe('reversed')
    expect(reversed.done).toBe(0)
    const after = await bank.cluster.verifyPlacement({ pageSize: 9 })
    expect(after.misplaced).toEqual([])
    expect(after.tables).toEqual(before.tables)
    expect((await bank.cluster.topology()).shards.map((s) => s.id)).toEqual(routed.map((s) => s.id).sort())
    const same = { equal: true, problems: [], differences: [] }
    expect(comparePlacementReports(before, midway)).toEqual(same)
    expect(comparePlacementReports(before, after)).toEqual(same)
    // The same job again, to the end: every row on its new owner, the same rows per slot range.
    expect((await bank.cluster.reshard(target, { batchSize: 20 })).state).toBe('done')
    const repeated = await bank.cluster.verifyPlacement({ pageSize: 9 })
    expect(repeated.misplaced).toEqual([])
    expect(repeated.epoch).toBeGreaterThan(after.epoch)
    expect(comparePlacementReports(before, repeated)).toEqual(same)
  })

  test('removing a MariaDB shard and reweighting moves its rows to PostgreSQL and MariaDB owners while transfers run', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const every = [pg[0]!, my[0]!, my[1]!]
    const bank = await startReshardBank(every, every, 240)
    banks.push(bank)
    const target = [{ id: pg[0]!.id, weight: 2 }, { id: my[0]!.id }] // removes my-1, pg-0 twice my-0's share
    const running = transfers(bank, 100, 240)
    const result = await bank.cluster.reshard(target, { batchSize: 30 })
    expect(await running).toBeGreaterThan(80)
    expect(result.state).toBe('done')
    const all = await bank.allAccounts()
    expect(all).toHaveLength(240)
    expect(all.reduce((sum, a) => sum + a.balance, 0)).toBe(240 * 100)
    expect(all.filter((a) => a.shardId === my[1]!.id)).toEqual([])
    for (const a of all) expect(a.shardId).toBe(bank.cluster.shardFor(a.id))
    const topology = await bank.cluster.topology()
    expect(topology.shards).toEqual([
      { id: my[0]!.id, dialect: 'mysql', weight: 1 },
      { id: pg[0]!.id, dialect: 'postgres', weight: 2 },
    ])
    expect(topology.move).toBeUndefined()
    // Fences: none newer than the stored epoch; the removed shard's is raised past every epoch a process could still route to it by.
    for (const fence of topology.fences) expect(fence.epoch).toBeLessThanOrEqual(topology.epoch)
  })

  test('a read spanning the shards during a job sees every row exactly once', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const every = [pg[0]!, my[0]!, pg[1]!]
    const bank = await startReshardBank(routed, every, 150)
    banks.push(bank)
    const reader = bank.sibling(every, { topology: 'follow' })
    let reads = 0
    let stop = false
    const reading = (async () => {
      while (!stop) {
        const rows = (await reader.table(bank.accounts).select('id', 'balance')) as { id: number; balance: number }[]
        expect(rows).toHaveLength(150)
        expect(new Set(rows.map((r) => Number(r.id))).size).toBe(150)
        expect(rows.reduce((sum, r) => sum + Number(r.balance), 0)).toBe(150 * 100)
        reads++
      }
    })().catch((error: unknown) => {
      stop = true
      throw error
    })
    const result = await bank.cluster.reshard([{ id: pg[0]!.id }, { id: my[0]!.id }, { id: pg[1]!.id }], {
      batchSize: 10,
      onProgress: () => {
        // Let the reader overlap every batch boundary at least once.
      },
    })
    stop = true
    await reading
    expect(result.state).toBe('done')
    expect(reads).toBeGreaterThan(0)
  })

  test('outside a transaction, a stale process is refused by the old owner and its statement is routed again to the new one', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const every = [pg[0]!, my[0]!, my[1]!]
    const bank = await startReshardBank(routed, every, 100)
    banks.push(bank)
    const stale = bank.sibling(every, { topology: 'follow' })
    await stale.transaction(async () => {})
    const staleEpoch = (await stale.topology()).epoch
    await bank.cluster.reshard([{ id: pg[0]!.id }, { id: my[0]!.id }, { id: my[1]!.id }], { batchSize: 25 })
    const moved = (await bank.allAccounts()).find((a) => a.shardId === my[1]!.id)!
    // Still routing by the epoch before the job: it would send this key to its old owner.
    const fresh = bank.sibling(every, { topology: 'follow' })
    expect(staleEpoch).toBeLessThan((await fresh.topology()).epoch)
    expect(await stale.table(bank.accounts).where({ id: moved.id }).update({ balance: 0 })).toBe(1)
    expect(await stale.table(bank.accounts).insert({ id: 100_000 + moved.id, balance: 1 })).toBe(1)
    expect(stale.stats().commits.onePhase).toBe(2)
    const all = await bank.allAccounts()
    expect(all.find((a) => a.id === moved.id)).toEqual({ shardId: my[1]!.id, id: moved.id, balance: 0 })
    expect(all).toHaveLength(101)
    expect((await fresh.verifyPlacement()).misplaced).toEqual([])
  })

  test('bad input and conflicting changes are typed errors that change nothing', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    const routed = [pg[0]!, my[0]!]
    const bank = await startReshardBank(routed, routed, 20)
    banks.push(bank)
    const withPg1 = [{ id: pg[0]!.id }, { id: my[0]!.id }, { id: pg[1]!.id }]
    await expect(bank.cluster.reshard(withPg1)).rejects.toThrow(/no connection for shard/)
    await expect(bank.cluster.reshard([{ id: my[0]!.id }])).rejects.toThrow(/must keep the log shard/)
    await expect(bank.cluster.reshard([], {})).rejects.toBeInstanceOf(ConfigError)
    await expect(bank.cluster.reshard(routed, { batchSize: 0 })).rejects.toThrow(/batchSize/)
    await expect(bank.cluster.reshard(routed, { dutyCycle: 2 })).rejects.toThrow(/dutyCycle/)
    await expect(bank.cluster.reshard(routed, { bogus: 1 } as never)).rejects.toThrow(/bogus/)
    await expect(bank.cluster.reshard(routed.map((s) => ({ id: s.id })))).rejects.toThrow(/already routes by/)
    await expect(bank.cluster.cancelReshard()).rejects.toThrow(/no resharding job/)
    expect(await bank.cluster.reshardStatus()).toBeUndefined()

    // A table missing on a shard of the target: the plan lists it, and the job is refused before anything is written.
    const every = [pg[0]!, my[0]!, my[1]!]
    const wide = bank.sibling(every, { topology: 'follow' })
    await wide.migrate()
    const target = every.map((s) => ({ id: s.id }))
    const plan = await wide.reshardPlan(target)
    expect(plan.problems.join('; ')).toMatch(new RegExp(`${bank.accounts} does not exist on shard ${my[1]!.id}`))
    await expect(wide.reshard(target)).rejects.toThrow(/cannot start/)
    expect(await wide.reshardStatus()).toBeUndefined()
    expect((await wide.topology()).move).toBeUndefined()

    // During a job, no other change: setTopology and a reshard elsewhere are refused.
    const three = [pg[0]!, my[0]!, pg[1]!]
    const mover = bank.sibling(three, { topology: 'follow' })
    for (const t of [bank.accounts, bank.currencies]) {
      await mover.forShard(pg[1]!.id).schema.createTable(t, (table) => {
        if (t === bank.accounts) {
          table.integer('id').primary()
          table.integer('balance').notNullable()
          table.string('note', 32).nullable()
        } else {
          table.string('code', 3).primary()
          table.string('name', 32).notNullable()
        }
      })
    }
    try {
      await mover.migrate()
      const partial = await mover.reshard(three.map((s) => ({ id: s.id })), { batchSize: 1, maxBatches: 1 })
      expect(partial.state).toBe('running')
      await expect(mover.setTopology(routed.map((s) => ({ id: s.id })))).rejects.toThrow(/resharding job .* is in progress/)
      await expect(mover.reshard([{ id: pg[0]!.id }, { id: pg[1]!.id }])).rejects.toThrow(/is moving rows to/)
      expect((await mover.reverseReshard()).state).toBe('reversed')
    } finally {
      for (const t of [bank.accounts, bank.currencies]) await mover.forShard(pg[1]!.id).schema.dropTableIfExists(t)
    }
  })

  test('a batch that cannot hold its fences gives up within timeoutMs, names the session that holds one, and leaves the job resumable', async () => {
    const pg = sharedShards('postgres')
    const my = sharedShards('mysql')
    for (const holdOn of [pg[0]!, my[0]!]) {
      const routed = [pg[0]!, my[0]!]
      const every = [pg[0]!, my[0]!, pg[1]!]
      const bank = await startReshardBank(routed, every, 40)
      banks.push(bank)
      const target = every.map((s) => ({ id: s.id }))
      // An application transaction that has a branch open on a shard every step must hold.
      const holder = bank.sibling(every, { topology: 'follow' })
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      let opened!: () => void
      const isOpen = new Promise<void>((resolve) => (opened = resolve))
      const holding = holder.transaction(async (tx) => {
        // FOR UPDATE: on MariaDB a branch that has only read holds the fence with no trx_id,
        // which is named only when no other such session is on the (shared) server.
        await tx.forShard(holdOn.id)(bank.accounts).where({ id: 1 }).forUpdate().first()
        opened()
        await released
      })
      await isOpen
      const error = await bank.cluster.reshard(target, { lockWaitMs: 50, timeoutMs: 400 }).catch((e: unknown) => e)
      release()
      await holding
      expect(error).toBeInstanceOf(TopologyChangeBlockedError)
      expect((error as TopologyChangeBlockedError).blockers.join('; ')).toMatch(new RegExp(`shard ${holdOn.id}: session`))
      // Nothing started: the topology and the rows are as they were, and the job runs once the holder is gone.
      expect(await bank.cluster.reshardStatus()).toBeUndefined()
      expect((await bank.cluster.reshard(target, { batchSize: 10 })).state).toBe('done')
      expect((await bank.cluster.verifyPlacement()).misplaced).toEqual([])
    }
  })

  test('a log shard that cannot be reached is a ShardUnavailableError naming it, from every job call', async () => {
    const port = await closedPort()
    const dead = { id: 'dead', dialect: 'postgres' as const, connection: { host: '127.0.0.1', port, user: 'postgres', database: 'shardtx' } }
    const cluster = createCluster({ shards: [dead, sharedShards('mysql')[0]!], log: 'dead', recovery: false, maxWait: 2000 })
    try {
      for (const call of [
        () => cluster.reshardStatus(),
        () => cluster.cancelReshard(),
        () => cluster.reverseReshard(),
        () => cluster.reshard([{ id: 'dead' }]),
        () => cluster.reshardPlan([{ id: 'dead' }]),
        () => cluster.verifyPlacement(),
        () => cluster.topology(),
      ]) {
        const error = await call().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ShardUnavailableError)
        expect((error as ShardUnavailableError).shardId).toBe('dead')
      }
    } finally {
      await cluster.close()
    }
  })
})
