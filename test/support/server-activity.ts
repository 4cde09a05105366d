import type { Knex } from 'knex'
import type { Dialect, ShardConfig } from '../../src/config/shard-config.js'
import { innodbWaitRowsInWindow } from '../../adapters/mysql/mysql-innodb-waits.js'
import { connectMysql, connectPostgres } from './raw-connections.js'

/**
 * How many sessions on a server are running a statement whose text contains
 * `marker` right now, read from the server itself (`pg_stat_activity`,
 * `information_schema.PROCESSLIST`), never from shardtx's own bookkeeping.
 * The session asking is left out, so the marker may appear in this query too.
 *
 * ```ts
 * expect(await runningStatements(cluster.forShard('pg-0'), 'postgres', 'pg_sleep(600)')).toBe(0)
 * ```
 */
export async function runningStatements(knex: Knex, dialect: Dialect, marker: string): Promise<number> {
  const sql = RUNNING[dialect]
  const result = (await knex.raw(sql, [`%${marker}%`])) as { rows: { n: number }[] } | [{ n: number }[]]
  return Number((Array.isArray(result) ? result[0] : result.rows)[0]!.n)
}

/**
 * {@link runningStatements} on a plain driver connection of its own, opened and
 * closed here: for a shard about to be killed, whose pool must not keep a
 * connection to the dead server.
 *
 * ```ts
 * await untilServer('the sleep runs', async () => (await runningStatementsOn(shard, 'sleep(30)')) > 0)
 * ```
 */
export async function runningStatementsOn(shard: ShardConfig, marker: string): Promise<number> {
  const sql = RUNNING[shard.dialect]
  if (shard.dialect === 'postgres') {
    const client = await connectPostgres(shard)
    try {
      return Number((await client.query<{ n: number }>(sql.replace('?', '$1'), [`%${marker}%`])).rows[0]!.n)
    } finally {
      await client.end()
    }
  }
  const conn = await connectMysql(shard)
  try {
    const [rows] = (await conn.query(sql, [`%${marker}%`])) as unknown as [{ n: number }[]]
    return Number(rows[0]!.n)
  } finally {
    await conn.end()
  }
}

const RUNNING: Record<Dialect, string> = {
  postgres: `select count(*)::int as n from pg_stat_activity
              where state = 'active' and pid <> pg_backend_pid() and query like ?`,
  mysql: `select count(*) as n from information_schema.PROCESSLIST
           where command = 'Query' and id <> connection_id() and info like ?`,
}

/**
 * Polls `check` until it holds, for at most `timeoutMs`: how a test waits for a
 * server state (a lock wait, a running statement) instead of sleeping and
 * hoping the state was reached. Throws, naming `what`, when the bound passes.
 *
 * ```ts
 * await untilServer('the fence waits on the row lock', async () => (await lockWaiters()) > 0)
 * ```
 */
export async function untilServer(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Sessions on a server blocked on a lock right now whose running statement
 * contains `marker`: ungranted `pg_locks` entries, or InnoDB's lock waits
 * (read in shardtx's read windows, adapters/mysql/innodb-view-window.ts: a
 * poll every 20 ms would otherwise keep InnoDB's view from ever showing the wait).
 * The marker keeps other test files' waits out, since they share the servers.
 *
 * ```ts
 * await untilServer('a writer waits', async () => (await lockWaiters(knex, 'mysql', 'accounts_ab12')) > 0)
 * ```
 */
export async function lockWaiters(knex: Knex, dialect: Dialect, marker: string): Promise<number> {
  const pattern = `%${marker}%`
  if (dialect === 'postgres') {
    const { rows } = (await knex.raw(
      `select count(distinct l.pid)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where not l.granted and l.pid <> pg_backend_pid() and a.query like ?`,
      [pattern],
    )) as { rows: { n: number }[] }
    return rows[0]!.n
  }
  const rows = await innodbWaitRowsInWindow((sql) => knex.raw(sql))
  return new Set(rows.filter((r) => r.waiter_query?.includes(marker)).map((r) => String(r.waiter))).size
}

/**
 * Prepared branches on a shard whose id contains `marker` (a transaction id),
 * read from the server itself: `pg_prepared_xacts` of this database, or
 * `XA RECOVER`.
 *
 * ```ts
 * expect(await preparedOnServer(cluster.forShard('my-0'), 'mysql', txId)).toBe(0)
 * ```
 */
export async function preparedOnServer(knex: Knex, dialect: Dialect, marker: string): Promise<number> {
  if (dialect === 'postgres') {
    const { rows } = (await knex.raw(
      'select count(*)::int as n from pg_prepared_xacts where database = current_database() and gid like ?',
      [`%${marker}%`],
    )) as { rows: { n: number }[] }
    return rows[0]!.n
  }
  const [rows] = (await knex.raw('XA RECOVER')) as [{ data: Buffer | string }[]]
  return rows.filter((row) => String(row.data).includes(marker)).length
}
