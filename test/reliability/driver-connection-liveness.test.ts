import { readFileSync } from 'node:fs'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createCluster, ShardUnavailableError, type Cluster } from '../../src/index.js'
import type { ConnectionObject, Dialect } from '../../src/config/shard-config.js'
import { startLocalCluster, type LocalCluster } from '../../src/testing/index.js'

// Every driver connection shardtx opens has a connect timeout and TCP keepalive,
// on both dialects. Shown through the fault proxy of shardtx/testing: a login
// that is never answered fails with the driver's connect timeout, long before
// the pool's own wait would end it. (mysql2 turns keepalive on by itself;
// pg does not, which the control connection shows.)

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
})
afterAll(async () => {
  await local?.destroy()
})

const SHARD_OF: Record<Dialect, string> = { postgres: 'pg-0', mysql: 'my-0' }

function proxyPortOf(shardId: string): number {
  return (local.shards.find((shard) => shard.id === shardId)!.connection as ConnectionObject).port!
}

/** Linux's view of this host's TCP sockets connected to `port`: the timer each one runs (0 none, 2 keepalive). */
function timersOfSocketsTo(port: number): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 5 && fields[2]!.endsWith(`:${hexPort}`) && fields[3] === '01')
    .map((fields) => Number.parseInt(fields[5]!.split(':')[0]!, 16))
}

function causes(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let current = error; current !== undefined && current !== null && chain.length < 10; current = (current as { cause?: unknown }).cause) {
    chain.push(current)
  }
  return chain
}

describe.each(['postgres', 'mysql'] as const)('%s driver connections', (dialect) => {
  const id = SHARD_OF[dialect]
  let cluster: Cluster

  beforeAll(() => {
    cluster = createCluster({
      shards: local.shards.filter((shard) => shard.id === id),
      recovery: false,
      connectTimeout: 2_000,
      keepAliveDelay: 5_000,
      // Above connectTimeout, below mysql2's own 10 s default: without the option
      // the pool's wait would end the call with a knex timeout instead.
      maxWait: 8_000,
    })
  })
  afterAll(async () => {
    await local.heal(id)
    await cluster?.close()
  })

  test('a login that is never answered fails with the driver connect timeout, in and outside a transaction', async () => {
    await local.partition(id, { mode: 'blackhole' })
    try {
      const inTransaction = await cluster.transaction((tx) => tx.forShard(id).raw('select 1')).then(
        () => expect.unreachable('a black-holed shard should not answer'),
        (caught: unknown) => caught,
      )
      expect(inTransaction).toBeInstanceOf(ShardUnavailableError)
      const outside = await cluster.forShard(id).raw('select 1').then(
        () => expect.unreachable('a black-holed shard should not answer'),
        (caught: unknown) => caught,
      )
      for (const error of [inTransaction, outside]) {
        const driverTimeout = causes(error).some((cause) => {
          const { message, code } = cause as { message?: string; code?: string }
          return dialect === 'postgres' ? /connection timeout|timeout expired/i.test(message ?? '') : code === 'ETIMEDOUT'
        })
        expect(driverTimeout, String(error)).toBe(true)
      }
    } finally {
      await local.heal(id)
    }
    await expect(cluster.forShard(id).raw('select 1')).resolves.toBeTruthy()
  })

  test.skipIf(process.platform !== 'linux')('pooled connections run TCP keepalive; a plain driver connection does not', async () => {
    const port = proxyPortOf(id)
    await cluster.close()
    cluster = createCluster({ shards: local.shards.filter((shard) => shard.id === id), recovery: false })
    await cluster.forShard(id).raw('select 1')
    const timers = timersOfSocketsTo(port)
    expect(timers.length).toBeGreaterThan(0)
    expect(timers.every((timer) => timer === 2)).toBe(true)
    await cluster.close()

    // The control: the same check sees no keepalive on a connection opened without it.
    if (dialect === 'postgres') {
      const { host, user, password, database } = local.shards.find((shard) => shard.id === id)!.connection as ConnectionObject
      const plain = new pg.Client({ host, port, user, password, database })
      await plain.connect()
      try {
        expect(timersOfSocketsTo(port)).toEqual([0])
      } finally {
        await plain.end()
      }
    }
    cluster = createCluster({ shards: local.shards.filter((shard) => shard.id === id), recovery: false })
  })
})
