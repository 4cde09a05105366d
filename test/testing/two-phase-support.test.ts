import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { connectMysql, connectPostgres } from '../support/raw-connections.js'
import { untilServer } from '../support/server-activity.js'
import { sharedShards } from '../support/shared-cluster.js'

// The shared cluster's servers must take part in two-phase commit as the
// core uses it: a branch prepared on one connection, finished from another.

const table = `testing_two_phase_${process.pid}`

describe('PostgreSQL shards of the shared cluster', () => {
  const [shard] = sharedShards('postgres')

  test('live in the database made for them', async () => {
    const client = await connectPostgres(shard!)
    try {
      const { rows } = await client.query<{ db: string; prepared: string; connections: string }>(
        `select current_database() as db, current_setting('max_prepared_transactions') as prepared,
                current_setting('max_connections') as connections`,
      )
      expect(rows[0]).toEqual({ db: 'shardtx', prepared: '100', connections: '300' })
    } finally {
      await client.end()
    }
  })

  test('PREPARE TRANSACTION on one connection, COMMIT PREPARED from another', async () => {
    const gid = `testing-${process.pid}-${Date.now()}`
    const first = await connectPostgres(shard!)
    const second = await connectPostgres(shard!)
    try {
      await first.query(`create table ${table} (id int primary key)`)
      const prepared = await first.query(`begin; insert into ${table} values (1); prepare transaction '${gid}'`)
      expect((Array.isArray(prepared) ? prepared.at(-1) : prepared).command).toBe('PREPARE')
      expect((await second.query(`select count(*)::int as n from ${table}`)).rows[0].n).toBe(0)

      await second.query(`commit prepared '${gid}'`)
      expect((await second.query(`select id from ${table}`)).rows).toEqual([{ id: 1 }])
    } finally {
      await first.query(`drop table if exists ${table}`)
      await Promise.all([first.end(), second.end()])
    }
  })
})

describe('MariaDB shards of the shared cluster', () => {
  const [shard] = sharedShards('mysql')
  let conn: Awaited<ReturnType<typeof connectMysql>>

  beforeAll(async () => {
    conn = await connectMysql(shard!)
  })
  afterAll(async () => {
    await conn.query(`drop table if exists ${table}`)
    await conn.end()
  })

  test('live in the database made for them', async () => {
    const [rows] = await conn.query('select database() as db, @@max_connections as connections')
    expect(rows).toEqual([{ db: 'shardtx', connections: 500 }])
  })

  test('XA PREPARE on one connection, XA COMMIT from another once the owner is gone', async () => {
    const xid = `testing-${process.pid}-${Date.now()}`
    await conn.query(`create table ${table} (id int primary key) engine=InnoDB`)
    const owner = await connectMysql(shard!)
    await owner.query(`XA START '${xid}'`)
    await owner.query(`insert into ${table} values (1)`)
    await owner.query(`XA END '${xid}'`)
    await owner.query(`XA PREPARE '${xid}'`)
    const [recovered] = await conn.query('XA RECOVER')
    expect((recovered as { data: string }[]).map((row) => String(row.data))).toContain(xid)
    // While its owner is connected, only the owner may finish the branch (1397 XAER_NOTA).
    await expect(conn.query(`XA COMMIT '${xid}'`)).rejects.toMatchObject({ errno: 1397 })

    // The owner goes away, as a crashed coordinator's connection does: the branch
    // stays prepared and another connection commits it.
    const ownerSession = owner.threadId
    await owner.end()
    // The server ends the session after the client's goodbye: wait until it has.
    await untilServer('the owner session is gone', async () => {
      const [sessions] = await conn.query('select id from information_schema.PROCESSLIST where id = ?', [ownerSession])
      return (sessions as unknown[]).length === 0
    })
    await conn.query(`XA COMMIT '${xid}'`)
    const [rows] = await conn.query(`select id from ${table}`)
    expect(rows).toEqual([{ id: 1 }])
    const [left] = await conn.query('XA RECOVER')
    expect((left as { data: string }[]).map((row) => String(row.data))).not.toContain(xid)
  })
})
