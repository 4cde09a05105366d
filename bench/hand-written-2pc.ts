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
  forget: (id: string) => void,
): Promise<void> {
  const id = `b2${process.pid}x${counter++}`
  await log.query(`BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = ${from}`)
  await prepareBranch(other, id, 'o', `UPDATE accounts SET balance = balance + 1 WHERE id = ${to}`)
  await log.query(`INSERT INTO b2_log (tx_id, created_at) VALUES ('${id}', ${Date.now()}); COMMIT`)
  await commitBranch(other, id, 'o')
  forget(id)
}

export async function createHandWrittenLog(log: RawConnection): Promise<void> {
  await log.query('CREATE TABLE IF NOT EXISTS b2_log (tx_id text PRIMARY KEY, created_at bigint NOT NULL)')
}

/** Deletes the decision records of finished transfers, in one statement. */
export async function forgetBatch(log: RawConnection, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await log.query(`DELETE FROM b2_log WHERE tx_id IN (${ids.map((i) => `'${i}'`).join(',')})`)
}

/**
 * B2 with the log shard outside the transfer: both branches prepare in parallel,
 * the decision is an autocommit insert on a third connection, then both
 * branches commit in parallel. What shardtx's W1 does when the log shard is not
 * a participant.
 */
export async function handWrittenTransferLogOutside(
  a: RawConnection,
  b: RawConnection,
  log: RawConnection,
  from: number,
  to: number,
  forget: (id: string) => void,
): Promise<void> {
  const id = `b2${process.pid}x${counter++}`
  await Promise.all([
    prepareBranch(a, `${id}`, 'a', `UPDATE accounts SET balance = balance - 1 WHERE id = ${from}`),
    prepareBranch(b, `${id}`, 'b', `UPDATE accounts SET balance = balance + 1 WHERE id = ${to}`),
  ])
  await log.query(`INSERT INTO b2_log (tx_id, created_at) VALUES ('${id}', ${Date.now()})`)
  await Promise.all([commitBranch(a, id, 'a'), commitBranch(b, id, 'b')])
  forget(id)
}

async function prepareBranch(conn: RawConnection, id: string, branch: string, statement: string): Promise<void> {
  if (conn.dialect === 'mysql') {
    const xid = `'${id}','${branch}'`
    await conn.query(`XA START ${xid}; ${statement}`)
    await conn.query(`XA END ${xid}; XA PREPARE ${xid}`)
  } else {
    await conn.query(`BEGIN; ${statement}`)
    await conn.query(`PREPARE TRANSACTION '${id}${branch}'`)
  }
}

function commitBranch(conn: RawConnection, id: string, branch: string): Promise<unknown> {
  return conn.query(conn.dialect === 'mysql' ? `XA COMMIT '${id}','${branch}'` : `COMMIT PREPARED '${id}${branch}'`)
}

/**
 * Baseline B4 for W2: a one-shard transfer as one-phase commit by hand, on the
 * driver: BEGIN rides with the first statement, COMMIT with the second. Two
 * round trips, the fewest the same interactive statements allow.
 */
export async function rawOnePhaseTransfer(conn: RawConnection, from: number, to: number): Promise<void> {
  await conn.query(`BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = ${from}`)
  await conn.query(`UPDATE accounts SET balance = balance + 1 WHERE id = ${to}; COMMIT`)
}

/**
 * Deletes decision records the way shardtx's forgetter does (500 at once, or
 * 250 ms after the first one waiting), so B2 pays for no more forget commits
 * than W1 does.
 */
export function batchedForget(log: RawConnection): { add(id: string): void; close(): Promise<void> } {
  let pending: string[] = []
  let timer: NodeJS.Timeout | undefined
  let flushing = Promise.resolve()
  const flush = (): void => {
    clearTimeout(timer)
    timer = undefined
    const batch = pending
    pending = []
    flushing = flushing.then(() => forgetBatch(log, batch))
  }
  return {
    add(id) {
      pending.push(id)
      if (pending.length >= 500) flush()
      else timer ??= setTimeout(flush, 250)
    },
    async close() {
      flush()
      await flushing
    },
  }
}
