import mysql from 'mysql2/promise'
import pg from 'pg'
import type { ConnectionObject, ShardConfig } from '../../src/config/shard-config.js'

/**
 * A plain `pg` client on a shard, bypassing shardtx: for tests that look at
 * the server directly (pg_prepared_xacts, rows written). Errors after a
 * server is killed are swallowed, so a crash test does not fail on an
 * unhandled 'error' event; the next query still rejects.
 *
 * ```ts
 * const client = await connectPostgres(local.shards[0]!)
 * try { await client.query('select 1') } finally { await client.end() }
 * ```
 */
export async function connectPostgres(shard: ShardConfig): Promise<pg.Client> {
  const client = new pg.Client(
    typeof shard.connection === 'string' ? { connectionString: shard.connection } : loginOf(shard.connection),
  )
  client.on('error', () => {})
  await client.connect()
  return client
}

/**
 * A plain `mysql2` connection on a shard, bypassing shardtx; see {@link connectPostgres}.
 *
 * ```ts
 * const conn = await connectMysql(local.shards[2]!)
 * try { await conn.query('XA RECOVER') } finally { await conn.end() }
 * ```
 */
export async function connectMysql(shard: ShardConfig): Promise<mysql.Connection> {
  const connection = typeof shard.connection === 'string'
    ? await mysql.createConnection(shard.connection)
    : await mysql.createConnection(loginOf(shard.connection))
  connection.on('error', () => {})
  return connection
}

function loginOf({ host, port, user, password, database }: ConnectionObject) {
  return { host, port, user, password, database }
}
