import mysql from 'mysql2'
import pg from 'pg'
import type { ShardConfig } from '../src/index.js'

/**
 * Baseline B2: two-phase commit written by hand on the raw drivers, with the
 * fewest round trips the same interactive statements allow: BEGIN / XA START
 * ride with the first statement, the other branch prepares while nothing else
 * waits, the decision is inserted inside the log shard's own branch and commits
 * with it (one round trip), then COMMIT PREPARED; decision records are deleted
 * in batches off the path. No pool, no query builder, no checks: the floor.
 */
export interface RawConnection {
  dialect: 'postgres' | 'mysql'
  query(sql: string): Promise<unknown>
  close(): Promise<void>
}

export async function connectRaw(shard: ShardConfig): Promise<RawConnection> {
  const c = shard.connection as { host: string; port: number; user: string; password?: string; database: string }
  if (shard.dialect === 'postgres') {
    const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database })
    await client.connect()
    return { dialect: 'postgres', query: (sql) => client.query(sql), close: () => client.end() }
  }
  const conn = mysql.createConnection({ ...c, multipleStatements: true })
  const query = (sql: string): Promise<unknown> =>
    new Promise((resolve, reject) => conn.query(sql, (error, rows) => (error ? reject(error) : resolve(rows))))
  await query('select 1')
  return { dialect: 'mysql', query, close: () => new Promise((resolve) => conn.end(() => resolve())) }
}

let counter = 0

/** One transfer: debit on `log` (the log shard, PostgreSQL), credit on `other`. */
export async function handWrittenTransfer(
  log: RawConnection,
  other: RawConnection,
  from: number,
  to: number,
  forget: string[],
): Promise<void> {
  const id = `b2${process.pid}x${counter++}`
  await log.query(`BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = ${from}`)
  const xid = `'${id}','o'`
  if (other.dialect === 'mysql') {
    await other.query(`XA START ${xid}; UPDATE accounts SET balance = balance + 1 WHERE id = ${to}`)
    await other.query(`XA END ${xid}; XA PREPARE ${xid}`)
  } else {
    await other.query(`BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = ${to}`)
    await other.query(`PREPARE TRANSACTION '${id}'`)
  }
  await log.query(`INSERT INTO b2_log (tx_id, created_at) VALUES ('${id}', ${Date.now()}); COMMIT`)
  await other.query(other.dialect === 'mysql' ? `XA COMMIT ${xid}` : `COMMIT PREPARED '${id}'`)
  forget.push(id)
}

export async function createHandWrittenLog(log: RawConnection): Promise<void> {
  await log.query('CREATE TABLE IF NOT EXISTS b2_log (tx_id text PRIMARY KEY, created_at bigint NOT NULL)')
}

/** Deletes the decision records of finished transfers, in one statement. */
export async function forgetBatch(log: RawConnection, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await log.query(`DELETE FROM b2_log WHERE tx_id IN (${ids.map((i) => `'${i}'`).join(',')})`)
}
