import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startLocalCluster, type LocalCluster } from '../../src/testing/index.js'
import { processRunning } from '../support/process-traces.js'
import { connectMysql, connectPostgres } from '../support/raw-connections.js'

// Crash tests need servers of their own. durable: false on purpose: the
// claim under test is that even without fsync a SIGKILL loses nothing that
// was committed or prepared, which the core's crash tests rely on.

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false })
})
afterAll(async () => {
  await local?.destroy()
})

describe('a SIGKILLed PostgreSQL server', () => {
  test('restarts on its port with its prepared branch and its last commit intact', async () => {
    const before = local.server('pg-0')
    const client = await connectPostgres(local.shards[0]!)
    await client.query('create table crash (id int primary key)')
    await client.query("begin; insert into crash values (1); prepare transaction 'crash-pg'")
    await client.query('insert into crash values (2)')

    await local.kill('pg-0')
    expect(local.server('pg-0')).toMatchObject({ running: false, pid: undefined })
    expect(processRunning(before.pid!)).toBe(false)
    await expect(client.query('select 1')).rejects.toThrow()

    await local.restart('pg-0')
    const after = local.server('pg-0')
    expect(after).toMatchObject({ running: true, port: before.port, dataDir: before.dataDir })
    expect(after.pid).not.toBe(before.pid)

    const again = await connectPostgres(local.shards[0]!)
    try {
      const prepared = await again.query('select gid from pg_prepared_xacts where database = current_database()')
      expect(prepared.rows).toEqual([{ gid: 'crash-pg' }])
      expect((await again.query('select id from crash order by id')).rows).toEqual([{ id: 2 }])
      await again.query("commit prepared 'crash-pg'")
      expect((await again.query('select id from crash order by id')).rows).toEqual([{ id: 1 }, { id: 2 }])
    } finally {
      await again.end()
    }
  })

  test('stop and restart keep the data; kill and stop of a stopped server do nothing', async () => {
    await local.stop('pg-0')
    await local.kill('pg-0')
    await local.stop('pg-0')
    expect(local.server('pg-0').running).toBe(false)
    await local.restart('pg-0')
    const client = await connectPostgres(local.shards[0]!)
    try {
      expect((await client.query('select count(*)::int as n from crash')).rows).toEqual([{ n: 2 }])
    } finally {
      await client.end()
    }
  })
})

describe('a SIGKILLed MariaDB server', () => {
  test('restarts on its port with its prepared XA branch and its last commit intact', async () => {
    const before = local.server('my-0')
    const conn = await connectMysql(local.shards[1]!)
    await conn.query('create table crash (id int primary key) engine=InnoDB')
    await conn.query("XA START 'crash-my'")
    await conn.query('insert into crash values (1)')
    await conn.query("XA END 'crash-my'")
    await conn.query("XA PREPARE 'crash-my'")
    const other = await connectMysql(local.shards[1]!)
    await other.query('insert into crash values (2)')

    await local.kill('my-0')
    expect(local.server('my-0')).toMatchObject({ running: false, pid: undefined })
    expect(processRunning(before.pid!)).toBe(false)
    await expect(other.query('select 1')).rejects.toThrow()

    await local.restart('my-0')
    expect(local.server('my-0')).toMatchObject({ running: true, port: before.port })

    const again = await connectMysql(local.shards[1]!)
    try {
      const [recovered] = await again.query('XA RECOVER')
      expect((recovered as { data: unknown }[]).map((row) => String(row.data))).toEqual(['crash-my'])
      const [committedBefore] = await again.query('select id from crash order by id')
      expect(committedBefore).toEqual([{ id: 2 }])
      await again.query("XA COMMIT 'crash-my'")
      const [rows] = await again.query('select id from crash order by id')
      expect(rows).toEqual([{ id: 1 }, { id: 2 }])
    } finally {
      await again.end()
    }
  })
})
