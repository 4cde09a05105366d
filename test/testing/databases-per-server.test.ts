import { afterAll, beforeAll, expect, test } from 'vitest'
import { startLocalCluster, type LocalCluster } from '../../src/testing/index.js'
import { connectMysql, connectPostgres } from '../support/raw-connections.js'

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, databasesPerServer: 2, durable: false })
})
afterAll(async () => {
  await local?.destroy()
})

test('each server holds two shards in separate databases', () => {
  expect(local.shards.map((shard) => [shard.id, shard.dialect, (shard.connection as { database: string }).database])).toEqual([
    ['pg-0', 'postgres', 'shardtx_0'],
    ['pg-1', 'postgres', 'shardtx_1'],
    ['my-0', 'mysql', 'shardtx_0'],
    ['my-1', 'mysql', 'shardtx_1'],
  ])
  expect(local.server('pg-1')).toEqual(local.server('pg-0'))
  expect(local.server('pg-0').shardIds).toEqual(['pg-0', 'pg-1'])
  expect(local.server('my-1').port).toBe(local.server('my-0').port)
  expect(local.server('my-0').port).not.toBe(local.server('pg-0').port)
})

test('PostgreSQL: a table made through one shard is not seen through the other', async () => {
  const [a, b] = await Promise.all([connectPostgres(local.shards[0]!), connectPostgres(local.shards[1]!)])
  try {
    await a.query('create table only_in_a (id int)')
    expect((await a.query('select current_database() as db')).rows[0].db).toBe('shardtx_0')
    expect((await b.query('select current_database() as db')).rows[0].db).toBe('shardtx_1')
    expect((await b.query("select to_regclass('only_in_a') as t")).rows[0].t).toBeNull()
  } finally {
    await Promise.all([a.end(), b.end()])
  }
})

test('MariaDB: a table made through one shard is not seen through the other; XA RECOVER spans both', async () => {
  const [a, b] = await Promise.all([connectMysql(local.shards[2]!), connectMysql(local.shards[3]!)])
  try {
    await a.query('create table only_in_a (id int) engine=InnoDB')
    const [tables] = await b.query("select count(*) as n from information_schema.tables where table_schema = database() and table_name = 'only_in_a'")
    expect(tables).toEqual([{ n: 0 }])
    await a.query("XA START 'shared-a'")
    await a.query('insert into only_in_a values (1)')
    await a.query("XA END 'shared-a'")
    await a.query("XA PREPARE 'shared-a'")
    // Why the core filters XA RECOVER by shard id: the other shard's connection lists the branch too.
    const [recovered] = await b.query('XA RECOVER')
    expect((recovered as { data: unknown }[]).map((row) => String(row.data))).toEqual(['shared-a'])
    await a.query("XA ROLLBACK 'shared-a'")
  } finally {
    await Promise.all([a.end(), b.end()])
  }
})

test('killing one shard of a server takes the other down with it', async () => {
  await local.kill('pg-1')
  expect(local.server('pg-0').running).toBe(false)
  await local.restart('pg-0')
  expect(local.server('pg-1').running).toBe(true)
  const client = await connectPostgres(local.shards[1]!)
  await client.end()
})
