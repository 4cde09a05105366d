import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { laneLockOf } from '../../adapters/index.js'
import type { LaneLock } from '../../src/contention/lane-lock.js'
import { type Cluster, createCluster, DistributedDeadlockError, TransactionAbortedError } from '../../src/index.js'
import { startAccountsCluster } from '../helpers/accounts-cluster.js'
import { lockCycle } from '../helpers/lock-cycle.js'
import { participantFor } from '../helpers/participant-for.js'
import type { TestCluster } from '../helpers/test-cluster.js'
import { xxh32String } from '../../src/sharding/xxh32-string.js'
import { untilServer } from '../support/server-activity.js'
import { sharedShards } from '../support/shared-cluster.js'

const LONG = 10_000

describe('the lane lock on the log shard', () => {
  it.each(['pg-0', 'my-0'])('on %s: one session at a time per log table; a closed session gives it back', async (shardId) => {
    const shard = sharedShards().find((s) => s.id === shardId)!
    const suffix = Math.random().toString(36).slice(2, 8)
    const logTable = `lane_${suffix}`
    const participant = participantFor(shard, `l${suffix}_`, logTable)
    const locks: LaneLock[] = []
    const lock = (table = logTable): LaneLock => {
      const made = laneLockOf(participant, table, LONG, 5_000)
      locks.push(made)
      return made
    }
    try {
      const [a, b, other] = [lock(), lock(), lock(`${logTable}_other`)]
      expect(await a.acquire(LONG)).toBe(true)
      // Taken: another session gives up after its wait, on the server.
      expect(await b.acquire(50)).toBe(false)
      // Another cluster's log table is another lane.
      expect(await other.acquire(50)).toBe(true)
      a.release()
      expect(await b.acquire(LONG)).toBe(true)
      expect(await a.acquire(50)).toBe(false)
      // The server gives it back with the session: a process that dies holds no lane.
      await b.close()
      expect(await a.acquire(LONG)).toBe(true)
      a.release()
      other.release()
    } finally {
      await Promise.all(locks.map((l) => l.close()))
      await participant.close(5_000)
    }
  })
})

describe('the lane across processes', () => {
  let t: TestCluster
  let accounts: string
  let other: Cluster
  beforeAll(async () => {
    ;({ t, accounts } = await startAccountsCluster())
    // A second cluster with pools, gate and detector of its own stands for another process.
    other = createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false })
  })
  afterAll(async () => {
    await other.close()
    await t.close()
  })

  it('is engaged by a deadlock with another process, and then held by that process’s transactions while they run', async () => {
    expect(t.cluster.stats().admission.lane).toEqual({ engaged: false, held: 0, missed: 0 })
    const outcomes = await lockCycle([t.cluster, other], accounts, ['pg-1', 'my-0'])
    const victim = outcomes.find((o) => o !== undefined) as DistributedDeadlockError
    expect(victim).toBeInstanceOf(DistributedDeadlockError)
    expect(victim.otherProcesses).toBe(true)
    const [loser, winner] = outcomes[0] === undefined ? [other, t.cluster] : [t.cluster, other]
    expect(loser.stats().admission.lane.engaged).toBe(true)
    expect(winner.stats().admission.lane.engaged).toBe(false)

    // Seen from a third session: the loser's next transaction holds the lane from before its
    // callback starts until it ends; the winner's takes no part in it.
    const participant = participantFor(sharedShards().find((s) => s.id === 'pg-0')!, t.prefix, t.logTable)
    const probe = laneLockOf(participant, t.logTable, LONG, 5_000)
    try {
      await loser.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).first()
        expect(await probe.acquire(50)).toBe(false)
      })
      expect(loser.stats().admission.lane.held).toBe(1)
      await winner.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).first()
        expect(await probe.acquire(LONG)).toBe(true)
        probe.release()
      })
      expect(winner.stats().admission.lane.held).toBe(0)
      // Given back when the loser's transaction ended.
      expect(await probe.acquire(LONG)).toBe(true)
      probe.release()
    } finally {
      await probe.close()
      await participant.close(5_000)
    }
    // A transaction of the loser started inside another with independent: true does not wait for
    // the lane the one around it holds (it would wait its whole bound, then run without it).
    await loser.transaction(async () => {
      await loser.transaction(async (inner) => inner.forShard('pg-1')(accounts).where({ id: 1 }).first(), { independent: true })
    })
    expect(loser.stats().admission.lane).toMatchObject({ held: 2, missed: 0 })
  })

  it('with clusterLane: false, is never taken', async () => {
    const off = createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false, clusterLane: false })
    try {
      const outcomes = await lockCycle([off, other], accounts, ['pg-1', 'my-0'])
      expect(outcomes.filter((o) => o instanceof DistributedDeadlockError)).toHaveLength(1)
      await off.transaction(async (tx) => tx.forShard('pg-1')(accounts).where({ id: 1 }).first())
      expect(off.stats().admission.lane).toEqual({ engaged: false, held: 0, missed: 0 })
    } finally {
      await off.close()
    }
  })
})

describe('waiting for the lane', () => {
  let t: TestCluster
  let accounts: string
  let other: Cluster
  // A lane wait bound of a minute (half of maxWait): only a fix ends these waits within a test's time.
  const maxWait = 120_000
  beforeAll(async () => {
    ;({ t, accounts } = await startAccountsCluster({ maxWait }))
    other = createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false, maxWait })
  })
  afterAll(async () => {
    await other.close()
    await t.close()
  })

  /** A deadlock between the two clusters: the loser's lane is engaged (for a few seconds). */
  async function engagedCluster(): Promise<Cluster> {
    const outcomes = await lockCycle([t.cluster, other], accounts, ['pg-1', 'my-0'])
    const loser = outcomes[0] === undefined ? other : t.cluster
    expect(loser.stats().admission.lane.engaged).toBe(true)
    return loser
  }

  /** Another process's hold on the lane, from a session of the test's own. */
  async function holdLane(): Promise<{ lock: LaneLock; done: () => Promise<void> }> {
    const participant = participantFor(sharedShards().find((s) => s.id === 'pg-0')!, t.prefix, t.logTable)
    const lock = laneLockOf(participant, t.logTable, LONG, 5_000)
    expect(await lock.acquire(LONG)).toBe(true)
    return { lock, done: async () => (await lock.close(), await participant.close(5_000)) }
  }

  it('ends when the transaction’s signal aborts, also while the server keeps it waiting', async () => {
    const loser = await engagedCluster()
    const holder = await holdLane()
    try {
      const controller = new AbortController()
      let started = false
      const waiting = loser
        .transaction(() => void (started = true), { signal: controller.signal })
        .then(() => undefined, (error: unknown) => error)
      await untilServer('the lane waits on the server', async () => {
        // This log table's lane only: other test files' lanes share the server.
        const key = xxh32String(`${t.logTable}:lane`)
        const sql = `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and objid = ${key}`
        const { rows } = (await t.cluster.forShard('pg-0').raw(sql)) as { rows: { n: number }[] }
        return rows[0]!.n > 0
      })
      controller.abort(new Error('the caller gave up'))
      expect(await waiting).toBeInstanceOf(TransactionAbortedError)
      expect(started).toBe(false)
      expect(loser.stats().admission.lane.missed).toBeGreaterThan(0)
    } finally {
      await holder.done()
    }
    // The session it gave up was closed; the next attempt opens another and takes the lane.
    const held = loser.stats().admission.lane.held
    await loser.transaction(async (tx) => tx.forShard('pg-1')(accounts).where({ id: 1 }).first())
    expect(loser.stats().admission.lane.held).toBe(held + 1)
  })

  it('counts in the transaction’s timeout, which runs from its admission', async () => {
    const loser = await engagedCluster()
    const holder = await holdLane()
    const timeout = 2_000
    try {
      // The lane stays taken: the attempt waits half its timeout for it, then runs without.
      const { deadline, startedAt } = await loser.transaction((tx) => ({ deadline: tx.deadline, startedAt: Date.now() }), { timeout })
      expect(deadline).toBeLessThanOrEqual(startedAt + timeout / 2)
    } finally {
      await holder.done()
    }
  })
})
