import { randomBytes } from 'node:crypto'
import type mysql from 'mysql2/promise'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MysqlEpochFence } from '../../adapters/mysql/mysql-fence.js'
import type { ShardConfig } from '../../src/index.js'
import type { Participant } from '../../src/protocol/participant.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { participantFor } from '../helpers/participant-for.js'
import { connectMysql } from '../support/raw-connections.js'

/**
 * InnoDB shows a transaction that has taken only shared locks with trx_id 0
 * (docs/deadlocks.md). What a MariaDB shard's lock-wait readers make of that:
 * the detector's `lockWaits()` and the fence's report of who blocks an epoch
 * change. What they may name depends on every transaction on the server, so
 * this file has a MariaDB server of its own.
 */
describe('MariaDB lock waits beside transactions with only shared locks', () => {
  let local: LocalCluster
  let shard: ShardConfig
  let participant: Participant
  let root: mysql.Connection
  const table = `shared_${randomBytes(3).toString('hex')}`
  let open: { name: string; conn: mysql.Connection; pending: Promise<unknown>[] }[] = []

  beforeAll(async () => {
    local = await startLocalCluster({ mysql: 1, durable: false })
    shard = local.shards[0]!
    participant = participantFor(shard, 'sl_')
    root = await connectMysql(shard)
    await root.query(`CREATE TABLE ${table} (id int primary key, v int not null) ENGINE=InnoDB`)
    await root.query(`INSERT INTO ${table} VALUES (1, 0), (2, 0), (3, 0)`)
  })
  afterEach(async () => {
    // Closing a session rolls its transaction back, which ends the waits behind it.
    for (const { conn, pending } of open) {
      conn.destroy()
      await Promise.allSettled(pending)
    }
    open = []
  })
  afterAll(async () => {
    await root?.end()
    await participant?.close()
    await local?.destroy()
  })

  /** A session named `name` with a transaction begun. */
  async function session(name: string): Promise<{ run(sql: string): Promise<void>; wait(sql: string): Promise<void> }> {
    const conn = await connectMysql(shard)
    const entry = { name, conn, pending: [] as Promise<unknown>[] }
    open.push(entry)
    await conn.query('SET SESSION innodb_lock_wait_timeout = 30')
    await conn.query('BEGIN')
    return {
      run: async (sql) => void (await conn.query(sql)),
      // Sends a statement that blocks, and returns once InnoDB shows it waiting.
      wait: async (sql) => {
        entry.pending.push(conn.query(sql).catch(() => {}))
        // InnoDB refills the cache behind INNODB_TRX only when it has not been read
        // for 100 ms: polling faster would keep the snapshot taken before the wait.
        for (let tries = 0; ; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 150))
          const [rows] = await root.query('SELECT 1 FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ? AND trx_state = ?', [conn.threadId, 'LOCK WAIT'])
          if ((rows as unknown[]).length > 0) return
          if (tries > 100) throw new Error(`${name} does not wait`)
        }
      },
    }
  }

  /** The pairs `lockWaits()` reports, as `waiter→blocker` by session name. */
  async function pairs(): Promise<string[]> {
    const names = new Map(open.map(({ name, conn }) => [String(conn.threadId), name]))
    const waits = await participant.lockWaits!.lockWaits(5_000)
    return waits.map((w) => `${names.get(w.waiter) ?? w.waiter}→${names.get(w.blocker) ?? w.blocker}`).sort()
  }

  const row = (id: number, lock: 'FOR UPDATE' | 'LOCK IN SHARE MODE') => `SELECT v FROM ${table} WHERE id = ${id} ${lock}`

  it('pairs no session that neither waits nor holds the lock, and keeps the true pairs', async () => {
    const [a, b, x, y, w] = await Promise.all(['a', 'b', 'x', 'y', 'w'].map(session))
    await a!.run(row(1, 'FOR UPDATE')) // a gets a trx_id
    await a!.run(row(2, 'LOCK IN SHARE MODE'))
    await b!.run(row(2, 'LOCK IN SHARE MODE')) // b, x: trx_id 0
    await x!.run(row(3, 'LOCK IN SHARE MODE'))
    await y!.wait(row(1, 'LOCK IN SHARE MODE')) // trx_id 0, waits for a
    await w!.wait(`UPDATE ${table} SET v = v + 1 WHERE id = 2`) // waits for a and b
    // Joined on trx_id, y's wait also made x and b wait for a, and w wait for x and y.
    // w waits for b too, but b, x and y all show trx_id 0: InnoDB does not say which.
    expect(await pairs()).toEqual(['w→a', 'y→a'])
  })

  it('names a holder with trx_id 0 when it is the only session with trx_id 0 that holds locks', async () => {
    const [b, x, w] = await Promise.all(['b', 'x', 'w'].map(session))
    await b!.run(row(2, 'LOCK IN SHARE MODE'))
    await x!.run(`SELECT v FROM ${table} WHERE id = 3`) // a consistent read takes no lock
    await w!.wait(`UPDATE ${table} SET v = v + 1 WHERE id = 2`)
    expect(await pairs()).toEqual(['w→b'])
  })

  it('leaves out what a lock id shared by waiters with trx_id 0 cannot tell, and never pairs them in a cycle', async () => {
    const [a, y, w, z] = await Promise.all(['a', 'y', 'w', 'z'].map(session))
    await a!.run(row(1, 'FOR UPDATE'))
    await y!.wait(row(1, 'LOCK IN SHARE MODE')) // waits for a
    await w!.wait(row(1, 'FOR UPDATE')) // waits for a, and for y queued ahead
    await z!.wait(row(1, 'LOCK IN SHARE MODE')) // waits for a, and for w queued ahead
    // y and z wait with the same lock id '0:…': the row for z's wait on w cannot be told
    // from one for y's, and y→w with w→y would be a cycle; w's wait on y names neither.
    expect(await pairs()).toEqual(['w→a', 'y→a', 'z→a'])
  })

  describe('the fence report of who blocks an epoch change', () => {
    let fence: MysqlEpochFence
    const fenceTable = `fence_${randomBytes(3).toString('hex')}`
    const fenceRead = `SELECT epoch FROM ${fenceTable} WHERE shard_id = 'my-0' LOCK IN SHARE MODE`

    beforeAll(async () => {
      await root.query(`CREATE TABLE ${fenceTable} (shard_id varchar(64) primary key, epoch int not null, log_shard varchar(64) not null)`)
      await root.query(`INSERT INTO ${fenceTable} VALUES ('my-0', 1, 'my-0')`)
      fence = new MysqlEpochFence(participant, fenceTable, 5_000)
    })

    it('names the one branch that holds the fence with only a shared lock', async () => {
      const b = await session('b')
      await b.run(fenceRead)
      const blocked = await fence.lock(300)
      expect('blockers' in blocked && blocked.blockers).toEqual([`shard my-0: session ${open[0]!.conn.threadId} (RUNNING, idle)`])
    })

    it('says a session with only shared locks blocks, without naming the wrong one, when several could', async () => {
      const [b, x] = await Promise.all(['b', 'x'].map(session))
      await b!.run(fenceRead)
      await x!.run(row(3, 'LOCK IN SHARE MODE'))
      const blocked = await fence.lock(300)
      expect('blockers' in blocked && blocked.blockers).toEqual([
        'shard my-0: a session with only shared locks, which InnoDB shows without a transaction id (one of 2 such sessions)',
      ])
    })
  })
})
