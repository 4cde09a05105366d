import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { LocalCluster, LocalClusterOptions, ServerInfo } from '../../src/testing/index.js'
import { startLocalCluster } from '../../src/testing/index.js'
import { connectMysql, connectPostgres } from '../support/raw-connections.js'

/**
 * What only the backend under test can check: that a server really died of
 * SIGKILL, that a restart kept its data where it was, that destroy removed it.
 *
 * ```ts
 * describeBackendContract('local', { postgres: 1, mysql: 1, durable: false }, localProbe)
 * ```
 */
export interface BackendProbe {
  expectKilled(before: ServerInfo): Promise<void> | void
  expectRestarted(before: ServerInfo, after: ServerInfo): Promise<void> | void
  expectRemoved(servers: readonly ServerInfo[]): Promise<void> | void
}

/**
 * The `shardtx/testing` contract every backend that can kill and restart
 * servers keeps, run once per backend: start, a real SIGKILL, a restart on
 * the same port with committed and prepared work intact, stop, destroy.
 * One PostgreSQL and one MariaDB server, so the suite stays cheap.
 *
 * durable: false on purpose: the claim under test is that even without
 * fsync a SIGKILL loses nothing that was committed or prepared, which the
 * core's crash tests rely on.
 */
export function describeBackendContract(backend: string, options: LocalClusterOptions, probe: BackendProbe): void {
  describe(`the ${backend} backend`, () => {
    let local: LocalCluster

    beforeAll(async () => {
      local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, ...options })
    }, 180_000)
    afterAll(async () => {
      await local?.destroy()
    })

    /** SIGKILLs the server, checks it is dead and `connected` with it, restarts it, checks it is back on its port. */
    async function killAndRestart(shardId: string, connected: { query(sql: string): Promise<unknown> }): Promise<void> {
      const before = local.server(shardId)
      await local.kill(shardId)
      expect(local.server(shardId)).toMatchObject({ running: false, pid: undefined })
      await probe.expectKilled(before)
      await expect(connected.query('select 1')).rejects.toThrow()

      await local.restart(shardId)
      const after = local.server(shardId)
      expect(after).toMatchObject({ running: true, port: before.port })
      await probe.expectRestarted(before, after)
    }

    test('serves one shard per server on 127.0.0.1', () => {
      expect(local.backend).toBe(backend)
      expect(local.shards.map((shard) => [shard.id, shard.dialect])).toEqual([['pg-0', 'postgres'], ['my-0', 'mysql']])
      for (const shard of local.shards) expect(local.server(shard.id)).toMatchObject({ host: '127.0.0.1', running: true })
    })

    describe('a SIGKILLed PostgreSQL server', () => {
      test('restarts on its port with its prepared branch and its last commit intact', async () => {
        const client = await connectPostgres(local.shards[0]!)
        await client.query('create table crash (id int primary key)')
        await client.query("begin; insert into crash values (1); prepare transaction 'crash-pg'")
        await client.query('insert into crash values (2)')

        await killAndRestart('pg-0', client)

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
        const client = await connectPostgres(local.shards[0]!)
        await local.stop('pg-0')
        await expect(client.query('select 1')).rejects.toThrow()
        await local.kill('pg-0')
        await local.stop('pg-0')
        expect(local.server('pg-0').running).toBe(false)
        await local.restart('pg-0')
        const again = await connectPostgres(local.shards[0]!)
        try {
          expect((await again.query('select count(*)::int as n from crash')).rows).toEqual([{ n: 2 }])
        } finally {
          await again.end()
        }
      })
    })

    describe('a SIGKILLed MariaDB server', () => {
      test('restarts on its port with its prepared XA branch and its last commit intact', async () => {
        const conn = await connectMysql(local.shards[1]!)
        await conn.query('create table crash (id int primary key) engine=InnoDB')
        await conn.query("XA START 'crash-my'")
        await conn.query('insert into crash values (1)')
        await conn.query("XA END 'crash-my'")
        await conn.query("XA PREPARE 'crash-my'")
        const other = await connectMysql(local.shards[1]!)
        await other.query('insert into crash values (2)')

        await killAndRestart('my-0', other)

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

    test('destroy() removes every server, may be called twice, and ends the cluster', async () => {
      const servers = local.shards.map((shard) => local.server(shard.id))
      await local.destroy()
      await local.destroy()
      await probe.expectRemoved(servers)
      await expect(local.kill('pg-0')).rejects.toMatchObject({ code: 'LOCAL_CLUSTER_DESTROYED' })
      await expect(local.restart('my-0')).rejects.toMatchObject({ code: 'LOCAL_CLUSTER_DESTROYED' })
    })
  })
}
