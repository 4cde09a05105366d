import { connect as tcpConnect } from 'node:net'
import { networkInterfaces } from 'node:os'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { ConnectionObject, Dialect, ShardConfig } from '../../src/config/shard-config.js'
import { LocalClusterError, startLocalCluster, type LocalCluster } from '../../src/testing/index.js'
import { sharedShards } from '../support/shared-cluster.js'

// The fault proxy of shardtx/testing, against real servers: what a driver
// sees when the path to its shard is black-holed, reset or slowed down.
// Waits that must end are the drivers' own query and connect timeouts.

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
})
afterAll(async () => {
  await local?.destroy()
})

/** A plain driver connection with a per-query timeout, the same for both dialects. */
interface RawClient {
  query(sql: string, timeoutMs?: number): Promise<unknown>
  destroy(): void
}

const SHARD_OF: Record<Dialect, string> = { postgres: 'pg-0', mysql: 'my-0' }

function shardOf(dialect: Dialect): ShardConfig {
  return local.shards.find((shard) => shard.id === SHARD_OF[dialect])!
}

/** The driver's own error for a query that got no answer in time. */
const QUERY_TIMEOUT: Record<Dialect, object> = {
  postgres: { message: expect.stringMatching(/Query read timeout/) },
  mysql: { code: 'PROTOCOL_SEQUENCE_TIMEOUT' },
}

async function connectRaw(dialect: Dialect, connectTimeoutMs = 30_000, port?: number): Promise<RawClient> {
  const { host, user, password, database, port: proxyPort } = shardOf(dialect).connection as ConnectionObject
  const login = { host, user, password, database, port: port ?? proxyPort }
  if (dialect === 'postgres') {
    const client = new pg.Client({ ...login, connectionTimeoutMillis: connectTimeoutMs })
    client.on('error', () => {})
    await client.connect()
    return {
      query: (sql, timeoutMs = 30_000) => client.query({ text: sql, query_timeout: timeoutMs } as pg.QueryConfig),
      destroy: () => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
    }
  }
  const conn = await mysql.createConnection({ ...login, connectTimeout: connectTimeoutMs })
  conn.on('error', () => {})
  return { query: (sql, timeoutMs = 30_000) => conn.query({ sql, timeout: timeoutMs }), destroy: () => conn.destroy() }
}

function isTimeout(dialect: Dialect, error: unknown): boolean {
  const { message, code } = error as { message?: string; code?: string }
  return dialect === 'postgres' ? /timeout/i.test(message ?? '') : code === 'PROTOCOL_SEQUENCE_TIMEOUT' || code === 'ETIMEDOUT'
}

describe.each(['postgres', 'mysql'] as const)('%s behind the fault proxy', (dialect) => {
  const id = SHARD_OF[dialect]

  test('the shard config points at the proxy, not at the server', () => {
    const connection = shardOf(dialect).connection as ConnectionObject
    expect(connection.host).toBe('127.0.0.1')
    expect(connection.port).not.toBe(local.server(id).port)
  })

  test('blackhole: a query on an open connection gets no answer; new connections are never answered; heal lets new ones through', async () => {
    const open = await connectRaw(dialect)
    const idle = await connectRaw(dialect)
    try {
      await open.query('select 1')
      await local.partition(id, { mode: 'blackhole' })
      // Only the driver's query timeout ends it: no result and no connection error came first.
      await expect(open.query('select 1', 500)).rejects.toMatchObject(QUERY_TIMEOUT[dialect])
      const refused = await connectRaw(dialect, 500).then(
        () => expect.unreachable('a black-holed shard should not complete a login'),
        (error: unknown) => error,
      )
      expect(isTimeout(dialect, refused)).toBe(true)

      await local.heal(id)
      const fresh = await connectRaw(dialect)
      try {
        expect(await fresh.query('select 1 as one')).toBeTruthy()
      } finally {
        fresh.destroy()
      }
      // Documented: a flow that was black-holed stays silent after heal.
      await expect(idle.query('select 1', 500)).rejects.toMatchObject(QUERY_TIMEOUT[dialect])
    } finally {
      await local.heal(id)
      open.destroy()
      idle.destroy()
    }
  })

  test('reset: an open connection fails with a connection error, not a timeout; new connections fail; heal lets them through', async () => {
    const open = await connectRaw(dialect)
    try {
      await open.query('select 1')
      await local.partition(id, { mode: 'reset' })
      const broken = await open.query('select 1', 30_000).then(
        () => expect.unreachable('a reset connection should not answer'),
        (error: unknown) => error,
      )
      expect(isTimeout(dialect, broken)).toBe(false)
      const refused = await connectRaw(dialect, 30_000).then(
        () => expect.unreachable('a reset shard should not accept a login'),
        (error: unknown) => error,
      )
      expect(isTimeout(dialect, refused)).toBe(false)
      expect(refused).toBeInstanceOf(Error)
    } finally {
      await local.heal(id)
      open.destroy()
    }
    const fresh = await connectRaw(dialect)
    try {
      expect(await fresh.query('select 1 as one')).toBeTruthy()
    } finally {
      fresh.destroy()
    }
  })

  test('delay: a statement sent through the slowed path reaches the server after one sent directly later', async () => {
    const table = `faults_delay_${dialect}`
    const direct = await connectRaw(dialect, 30_000, local.server(id).port)
    const slowed = await connectRaw(dialect)
    try {
      await direct.query(`create table ${table} (seq ${dialect === 'postgres' ? 'serial' : 'int auto_increment'} primary key, who varchar(10))`)
      await local.delay(id, 2_000)
      const viaProxy = slowed.query(`insert into ${table} (who) values ('slowed')`)
      await direct.query(`insert into ${table} (who) values ('direct')`)
      await viaProxy
      await local.delay(id, 0)
      const result = await slowed.query(`select who from ${table} order by seq`)
      const rows = dialect === 'postgres' ? (result as pg.QueryResult).rows : (result as [unknown[]])[0]
      expect(rows).toEqual([{ who: 'direct' }, { who: 'slowed' }])
    } finally {
      await local.heal(id)
      await direct.query(`drop table if exists ${table}`)
      direct.destroy()
      slowed.destroy()
    }
  })

  test('kill and restart work through the proxy: an open connection breaks, a new one reaches the restarted server', async () => {
    const open = await connectRaw(dialect)
    const before = local.server(id)
    try {
      await local.kill(id)
      const broken = await open.query('select 1', 30_000).then(
        () => expect.unreachable('a killed server should not answer'),
        (error: unknown) => error,
      )
      expect(isTimeout(dialect, broken)).toBe(false)
      await expect(connectRaw(dialect)).rejects.toBeInstanceOf(Error)
      await local.restart(id)
      expect(local.server(id).port).toBe(before.port)
      const fresh = await connectRaw(dialect)
      try {
        expect(await fresh.query('select 1 as one')).toBeTruthy()
      } finally {
        fresh.destroy()
      }
    } finally {
      open.destroy()
    }
  })
})

describe('the fault proxy', () => {
  test('listens on 127.0.0.1 only', async () => {
    const port = (local.shards[0]!.connection as ConnectionObject).port!
    // 127.0.0.2 is loopback too, but a socket bound to 127.0.0.1 does not take it.
    const otherAddresses = ['127.0.0.2', ...Object.values(networkInterfaces()).flat()
      .filter((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
      .map((address) => address!.address)]
    for (const host of otherAddresses) {
      await expect(reachable(host, port)).resolves.toBe(false)
    }
    await expect(reachable('127.0.0.1', port)).resolves.toBe(true)
  })

  test('refuses unknown shard ids, unknown modes and bad delays with typed errors', async () => {
    for (const call of [() => local.partition('pg-9'), () => local.heal('nope'), () => local.delay('my-7', 10)]) {
      const error = await Promise.resolve().then(call).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(LocalClusterError)
      expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_UNKNOWN_SHARD', message: expect.stringContaining('pg-0, my-0') })
    }
    for (const call of [
      () => local.partition('pg-0', { mode: 'drop' as never }),
      () => local.partition('pg-0', { mod: 'reset' } as never),
      () => local.delay('pg-0', -5),
      () => local.delay('pg-0', Number.NaN),
    ]) {
      const error = await Promise.resolve().then(call).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(LocalClusterError)
      expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_OPTIONS' })
    }
  })

  test('a cluster started without faults says how to get them', async () => {
    const [shard] = sharedShards('postgres')
    const { host, port, user, database } = shard!.connection as ConnectionObject
    const plain = await startLocalCluster({
      backend: 'env',
      postgres: 1,
      env: { SHARDTX_TEST_POSTGRES_URLS: `postgres://${user}@${host}:${port}/${database}` },
    })
    try {
      await expect(plain.partition('pg-0')).rejects.toMatchObject({ code: 'LOCAL_CLUSTER_NO_FAULTS', message: expect.stringContaining('faults: true') })
    } finally {
      await plain.destroy()
    }
  })
})

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
