import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { traitsOf } from '../../adapters/index.js'
import type { Dialect, ShardConfig } from '../../src/index.js'
import { branchIdOf } from '../../src/protocol/ids/branch-id.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import type { BranchId } from '../../src/protocol/ids/branch-id.js'
import type { DriverConnection, Participant } from '../../src/protocol/participant.js'
import { participantFor } from '../helpers/participant-for.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * What every dialect's participant must do, role by role, against a real
 * server. A new adapter runs this suite first: add its dialect to the list.
 */
const DIALECTS: Dialect[] = ['postgres', 'mysql']

describe.each(DIALECTS)('the %s participant', (dialect) => {
  let t: TestCluster
  let shard: ShardConfig
  let p: Participant
  /** Another shard on the same server and database: its branches are not ours to list. */
  let neighbour: Participant
  let table: string
  const open: { participant: Participant; conn: DriverConnection }[] = []

  beforeAll(async () => {
    shard = sharedShards(dialect)[0]!
    t = await startTestCluster([shard], { log: shard.id })
    p = participantFor(shard, t.prefix, t.logTable)
    neighbour = participantFor({ ...shard, id: `${shard.id}-neighbour` }, t.prefix, t.logTable)
    table = t.table('contract')
    await t.createAccounts(table, [shard.id], [{ id: 1, balance: 10 }])
  })
  afterAll(async () => {
    for (const { participant, conn } of open) participant.discard(conn)
    await p?.close()
    await neighbour?.close()
    await t?.close()
  })

  const branch = (participant: Participant = p): BranchId => branchIdOf(t.prefix, newTransactionId(Date.now(), 10_000), participant.shardId)
  const acquire = async (participant: Participant = p): Promise<DriverConnection> => {
    const conn = await participant.acquire()
    open.push({ participant, conn })
    return conn
  }
  const done = (participant: Participant, conn: DriverConnection): void => {
    open.splice(open.findIndex((o) => o.conn === conn), 1)
    participant.release(conn)
  }
  const insertRow = (participant: Participant, conn: DriverConnection, id: number) =>
    participant.knex(table).insert({ id, balance: 0 }).connection(conn)
  const rowExists = async (id: number) => (await t.cluster.forShard(shard.id)(table).where({ id })).length === 1
  /** A branch that inserted row `id` and is prepared; its connection is released or closed as the dialect needs. */
  const prepared = async (id: number, participant: Participant = p): Promise<BranchId> => {
    const b = branch(participant)
    const conn = await acquire(participant)
    await participant.begin(conn, b, {})
    await insertRow(participant, conn, id)
    await participant.prepare(conn, b)
    if (traitsOf(dialect).preparingSessionOwnsBranch) {
      open.splice(open.findIndex((o) => o.conn === conn), 1)
      participant.discard(conn)
    } else {
      done(participant, conn)
    }
    return b
  }

  describe('as branch driver', () => {
    it('prepares a branch and commits it prepared', async () => {
      const b = branch()
      const conn = await acquire()
      await p.begin(conn, b, {})
      await insertRow(p, conn, 100)
      await p.prepare(conn, b)
      expect(await rowExists(100)).toBe(false)
      await p.commitPrepared(conn, b)
      done(p, conn)
      expect(await rowExists(100)).toBe(true)
    })

    it('commits one-phase, and rolls back active and prepared branches', async () => {
      const [one, active, ready] = [branch(), branch(), branch()]
      const conn = await acquire()
      await p.begin(conn, one, {})
      await insertRow(p, conn, 101)
      await p.commitOnePhase(conn, one)
      await p.begin(conn, active, {})
      await insertRow(p, conn, 102)
      await p.rollback(conn, active, false)
      await p.begin(conn, ready, {})
      await insertRow(p, conn, 103)
      await p.prepare(conn, ready)
      await p.rollback(conn, ready, true)
      done(p, conn)
      expect([await rowExists(101), await rowExists(102), await rowExists(103)]).toEqual([true, false, false])
      expect((await p.listPrepared()).map((x) => x.txId)).not.toContain(ready.txId)
    })

    it('ends a read-only branch without preparing it', async () => {
      const b = branch()
      const conn = await acquire()
      await p.begin(conn, b, {})
      await p.knex(table).select().connection(conn)
      await p.finishReadOnly(conn, b)
      // The connection is usable for a new branch at once.
      const next = branch()
      await p.begin(conn, next, {})
      await p.rollback(conn, next, false)
      done(p, conn)
      expect((await p.listPrepared()).map((x) => x.txId)).not.toContain(b.txId)
    })
  })

  describe('as prepared-branch listing', () => {
    it("lists its own shard's prepared branches only, and finishes them from any session", async () => {
      const ours = await prepared(200)
      const theirs = await prepared(201, neighbour)
      const listed = await p.listPrepared()
      expect(listed).toContainEqual(expect.objectContaining({ txId: ours.txId, shardId: shard.id }))
      expect(listed.map((x) => x.txId)).not.toContain(theirs.txId)
      expect((await neighbour.listPrepared()).map((x) => x.txId)).toContain(theirs.txId)

      expect(await p.finishPrepared(ours, 'commit')).toBe('done')
      expect(await p.finishPrepared(ours, 'commit')).toBe('not-found')
      expect(await neighbour.finishPrepared(theirs, 'abort')).toBe('done')
      expect([await rowExists(200), await rowExists(201)]).toEqual([true, false])
    })

    it.runIf(traitsOf(dialect).preparingSessionOwnsBranch)('answers busy while the preparing session is still open', async () => {
      const b = branch()
      const conn = await acquire()
      await p.begin(conn, b, {})
      await insertRow(p, conn, 202)
      await p.prepare(conn, b)
      expect(await p.finishPrepared(b, 'abort')).toBe('busy')
      await p.rollback(conn, b, true)
      done(p, conn)
    })
  })

  describe('as decision store', () => {
    const record = (decision: 'commit' | 'abort' = 'commit') => ({
      txId: newTransactionId(Date.now(), 10_000),
      decision,
      participants: [shard.id, 'other'],
      createdAt: Date.now(),
    })

    it('inserts a decision once; the key is the fence', async () => {
      const r = record()
      expect(await p.insertDecision(r)).toBe('inserted')
      expect(await p.insertDecision({ ...r, decision: 'abort' })).toBe('conflict')
      expect(await p.readDecisions([r.txId])).toEqual([r])
    })

    it('fences: an existing decision stands, a missing one becomes abort', async () => {
      const committed = record()
      const fresh = newTransactionId(Date.now(), 10_000)
      await p.insertDecision(committed)
      const decided = await p.fenceAbort(
        [
          { txId: committed.txId, participants: committed.participants },
          { txId: fresh, participants: [shard.id] },
        ],
        Date.now(),
      )
      expect(Object.fromEntries(decided)).toEqual({ [committed.txId]: 'commit', [fresh]: 'abort' })
      expect((await p.readDecisions([fresh], 'abort')).map((r) => r.participants)).toEqual([[shard.id]])
    })

    it('commits a branch with its decision, or reports the fence when an abort record holds the key', async () => {
      const [b, fenced] = [branch(), branch()]
      const conn = await acquire()
      await p.begin(conn, b, {})
      await insertRow(p, conn, 300)
      const r = { ...record(), txId: b.txId }
      expect(await p.commitWithDecision(conn, b, r)).toBe('committed')
      await p.insertDecision({ ...record('abort'), txId: fenced.txId })
      await p.begin(conn, fenced, {})
      await insertRow(p, conn, 301)
      expect(await p.commitWithDecision(conn, fenced, { ...record(), txId: fenced.txId })).toBe('conflict')
      done(p, conn)
      expect([await rowExists(300), await rowExists(301)]).toEqual([true, false])
      expect((await p.readDecisions([b.txId, fenced.txId])).map((x) => x.decision).sort()).toEqual(['abort', 'commit'])
    })

    it('deletes records by decision, and abort records by age', async () => {
      const [c, a] = [record(), { ...record('abort'), createdAt: Date.now() - 60_000 }]
      await p.insertDecision(c)
      await p.insertDecision(a)
      expect(await p.deleteDecisions([c.txId, a.txId], 'commit')).toBe(1)
      expect(await p.deleteAbortsBefore(Date.now() - 30_000)).toBeGreaterThanOrEqual(1)
      expect(await p.readDecisions([c.txId, a.txId])).toEqual([])
    })
  })

  describe('as error classification', () => {
    it('names a lock timeout as a retryable conflict, and a syntax error as nothing', async () => {
      const [holder, waiter] = [branch(), branch()]
      const [c1, c2] = [await acquire(), await acquire()]
      await p.begin(c1, holder, {})
      await p.knex(table).where({ id: 1 }).update({ balance: 11 }).connection(c1)
      await p.begin(c2, waiter, { lockTimeoutMs: 1000 })
      const error = await p.knex(table).where({ id: 1 }).update({ balance: 12 }).connection(c2).then(() => undefined, (e: unknown) => e)
      expect(p.classifyConflict(error)).toMatchObject({ kind: 'lock timeout' })
      expect(p.isConnectionError(error)).toBe(false)
      await p.rollback(c1, holder, false)
      await p.rollback(c2, waiter, false)
      done(p, c1)
      done(p, c2)

      const syntax = await p.knex.raw('selec 1').then(() => undefined, (e: unknown) => e)
      expect(syntax).toBeInstanceOf(Error)
      expect(p.classifyConflict(syntax)).toBeUndefined()
      expect(p.isConnectionError(syntax)).toBe(false)
      expect(p.neverSent(syntax)).toBe(false)
    })

    it('knows a refused connection as a connection error that never reached the server', async () => {
      // Port 1 on loopback: nothing listens there, so the connection is refused.
      const refused = { ...shard, id: `${shard.id}-refused`, connection: { host: '127.0.0.1', port: 1, user: 'x', database: 'x' } }
      const nobody = participantFor(refused, t.prefix, t.logTable)
      try {
        const error = await nobody.knex.raw('select 1').then(() => undefined, (e: unknown) => e)
        expect(nobody.isConnectionError(error)).toBe(true)
        expect(nobody.neverSent(error)).toBe(true)
      } finally {
        await nobody.close()
      }
    })
  })
})
