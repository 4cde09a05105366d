import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, type ShardConfig } from '../../src/index.js'
import { connectMysql } from '../support/raw-connections.js'
import { sharedShards } from '../support/shared-cluster.js'

const USER = `stx_np_${randomBytes(3).toString('hex')}`
const HOSTS = ['%', 'localhost', '127.0.0.1']

describe('a MariaDB shard user without the PROCESS privilege', () => {
  const lines: string[] = []
  let cluster: Cluster
  let my0: ShardConfig

  beforeAll(async () => {
    my0 = sharedShards().find((s) => s.id === 'my-0')!
    const root = await connectMysql(my0)
    try {
      for (const host of HOSTS) {
        await root.query(`CREATE USER '${USER}'@'${host}'`)
        await root.query(`GRANT ALL PRIVILEGES ON shardtx.* TO '${USER}'@'${host}'`)
      }
    } finally {
      await root.end()
    }
    const connection = { ...(my0.connection as object), user: USER, password: '' }
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })
    // A log table of its own: the topology stored beside it names this test's two shards only.
    const suffix = randomBytes(3).toString('hex')
    cluster = createCluster({ shards: [sharedShards()[0]!, { ...my0, connection }], recovery: false, logger, logTable: `log_np_${suffix}`, prefix: `np${suffix}_` })
    await cluster.migrate()
  })
  afterAll(async () => {
    await cluster.close()
    const root = await connectMysql(my0)
    try {
      for (const host of HOSTS) await root.query(`DROP USER IF EXISTS '${USER}'@'${host}'`)
    } finally {
      await root.end()
    }
  })

  it('turns detection off for that shard with a warning when the first transaction starts, naming PROCESS; other shards keep it', async () => {
    await cluster.transaction((tx) => tx.forShard('my-0').raw('select 1'))
    await expect.poll(() => lines.find((l) => l.includes('PROCESS')), { timeout: 10_000 }).toBeDefined()
    const warning = JSON.parse(lines.find((l) => l.includes('PROCESS'))!) as { shardId: string; msg: string }
    expect(warning.shardId).toBe('my-0')
    expect(warning.msg).toMatch(/lock timeouts only/)
    await expect.poll(() => cluster.stats().deadlocks.shards, { timeout: 10_000 }).toEqual([sharedShards()[0]!.id])
    expect(cluster.stats().deadlocks.enabled).toBe(true)
  })
})
