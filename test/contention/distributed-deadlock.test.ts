import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConflictError, createCluster, DistributedDeadlockError, isRetryable } from '../../src/index.js'
import { parseTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { expectNothingLeaked } from '../reliability/leak-checks.js'
import { startAccountsCluster } from '../helpers/accounts-cluster.js'
import type { TestCluster } from '../helpers/test-cluster.js'
import { connectMysql } from '../support/raw-connections.js'
import { CYCLE_LOCK_TIMEOUT_MS as LOCK_TIMEOUT_MS, lockCycle } from '../helpers/lock-cycle.js'
import { sharedShards } from '../support/shared-cluster.js'

describe('distributed deadlock detection', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    ;({ t, accounts } = await startAccountsCluster())
  })
  afterAll(() => t.close())

  it.each([
    ['pg-1', 'my-1'],
    ['my-0', 'pg-0'],
    ['my-0', 'my-1'],
    ['pg-0', 'pg-1'],
  ] as [string, string][])('a cycle over %s and %s loses exactly one victim, the younger, with DISTRIBUTED_DEADLOCK', async (x, y) => {
    const deadlocksBefore = t.cluster.stats().admission.deadlocks
    const outcomes = await lockCycle([t.cluster, t.cluster], accounts, [x, y])
    const failed = outcomes.filter((o) => o !== undefined)
    expect(failed).toHaveLength(1)
    const victim = failed[0] as DistributedDeadlockError
    expect(victim).toBeInstanceOf(DistributedDeadlockError)
    expect(victim).toBeInstanceOf(ConflictError)
    expect(victim.code).toBe('DISTRIBUTED_DEADLOCK')
    expect(victim.kind).toBe('distributed deadlock')
    // Both transactions were this process's: its own limit can prevent the next such cycle.
    expect(victim.otherProcesses).toBe(false)
    expect(isRetryable(victim)).toBe(true)
    // The message names both transactions and both shards of the cycle.
    expect(victim.cycle.map((e) => e.shardId).sort()).toEqual([x, y].sort())
    const members = [...new Set(victim.cycle.flatMap((e) => [e.waiter, e.blocker]))]
    expect(members).toHaveLength(2)
    const survivor = members.find((m) => m !== victim.txId)!
    // The victim is the younger by the start time in its id (ties: the greater id).
    const [victimStart, survivorStart] = [victim.txId, survivor].map((id) => parseTransactionId(id)!.startedAt)
    expect(victimStart! > survivorStart! || (victimStart === survivorStart && victim.txId > survivor)).toBe(true)
    expect(victim.message).toContain(victim.txId)
    expect(victim.message).toContain(x)
    expect(victim.message).toContain(y)
    // The survivor committed both rows; the victim moved none.
    const survivorDelta = outcomes[0] === undefined ? 1 : -1
    expect((await t.balances(accounts, x)).get(1)).toBe(100 + survivorDelta)
    expect((await t.balances(accounts, y)).get(1)).toBe(100 + survivorDelta)
    await t.cluster.transaction(async (tx) => {
      await tx.forShard(x)(accounts).where({ id: 1 }).update({ balance: 100 })
      await tx.forShard(y)(accounts).where({ id: 1 }).update({ balance: 100 })
    })
    expect(t.cluster.stats().deadlocks.victims).toBeGreaterThan(0)
    // The victim told the admission gate: it halved its limit, which one commit cannot raise back.
    const { admission } = t.cluster.stats()
    expect(admission.deadlocks).toBe(deadlocksBefore + 1)
    expect(admission.limit).toBeLessThan(admission.capacity)
    await expectNothingLeaked(t.cluster)
  })

  it('aborts no one beside a wait chain through MariaDB when a transaction there holds only shared locks', async () => {
    // InnoDB shows the reader's branch (its fence read is a shared lock) and the raw
    // reader with trx_id 0; matched on trx_id, the raw reader's wait for the writer made
    // the branch wait for the writer too, and with the writer waiting for it on pg-0, a cycle.
    const victims = t.cluster.stats().deadlocks.victims
    const rounds = t.cluster.stats().deadlocks.rounds
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let readerReady!: () => void
    const ready = new Promise<void>((resolve) => (readerReady = resolve))
    const reader = t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
      await tx.forShard('my-0')(accounts).where({ id: 1 }).first()
      readerReady()
      await released
    })
    await ready
    const raw = await connectMysql(sharedShards().find((s) => s.id === 'my-0')!)
    let rawRead: Promise<unknown> | undefined
    try {
      const writer = t.cluster.transaction(
        async (tx) => {
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await raw.query('BEGIN')
          rawRead = raw.query(`SELECT balance FROM ${accounts} WHERE id = 1 LOCK IN SHARE MODE`)
          setTimeout(release, 1_500) // several detection rounds while all three wait
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
        },
        { lockTimeout: LOCK_TIMEOUT_MS },
      )
      await expect(Promise.all([reader, writer])).resolves.toBeDefined()
      await rawRead // granted once the writer committed
    } finally {
      raw.destroy()
    }
    expect(t.cluster.stats().deadlocks.rounds).toBeGreaterThan(rounds)
    expect(t.cluster.stats().deadlocks.victims).toBe(victims)
    expect((await t.balances(accounts, 'pg-0')).get(1)).toBe(102)
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-0')(accounts).where({ id: 1 }).update({ balance: 100 })
      await tx.forShard('my-0')(accounts).where({ id: 1 }).update({ balance: 100 })
    })
  })

  it('two processes that see the same cycle abort exactly one victim between them', async () => {
    // A second cluster with pools, gate and detector of its own stands for another process.
    const other = createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false })
    try {
      const before = t.cluster.stats().deadlocks.victims
      const outcomes = await lockCycle([t.cluster, other], accounts, ['pg-1', 'my-0'])
      const failed = outcomes.filter((o) => o !== undefined)
      expect(failed).toHaveLength(1)
      expect((failed[0] as ConflictError).code).toBe('DISTRIBUTED_DEADLOCK')
      expect((failed[0] as DistributedDeadlockError).otherProcesses).toBe(true)
      // Each process aborted only its own transaction: one victim in all.
      expect(t.cluster.stats().deadlocks.victims - before + other.stats().deadlocks.victims).toBe(1)
      // Both detectors looked at the cycle (each had a waiting transaction of its own).
      expect(other.stats().deadlocks.rounds).toBeGreaterThan(0)
    } finally {
      await other.close()
    }
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-1')(accounts).where({ id: 1 }).update({ balance: 100 })
      await tx.forShard('my-0')(accounts).where({ id: 1 }).update({ balance: 100 })
    })
  })
})
