import type { Connection as Mysql2Connection } from 'mysql2'
import type { WaitLabel } from '../../src/contention/wait-label.js'
import type { DriverConnection, KnexQuery, LockWait, LockWaitSource, Participant, RunQuery } from '../../src/protocol/participant.js'
import { boundedQuery } from '../shared/bounded-query.js'
import { readWindow, SERVER_TIME_SQL, serverAheadMs } from './innodb-view-window.js'
import { errno } from './mysql-errors.js'
import { INNODB_WAITS_SQL, type InnodbWaitRow, innodbWaits } from './mysql-innodb-waits.js'

type Connection = Mysql2Connection

/** ER_SPECIFIC_ACCESS_DENIED_ERROR: the PROCESS privilege is missing. */
const ER_SPECIFIC_ACCESS_DENIED = 1227
/** ER_UNKNOWN_TABLE / ER_NO_SUCH_TABLE: MySQL 8 has no information_schema.INNODB_LOCK_WAITS. */
const NO_SUCH_TABLE = [1109, 1146]

/** The label as the statement's leading comment: InnoDB shows it in the waiter's `trx_query`. */
export function labelComment(label: WaitLabel): string {
  return `/*${label.text}*/ `
}

function run<T>(conn: DriverConnection, sql: string): Promise<T> {
  return new Promise((resolve, reject) => {
    ;(conn as Connection).query(sql, (error, rows) => (error ? reject(error) : resolve(rows as T)))
  })
}

/**
 * Lock waits of a MariaDB shard from `information_schema.INNODB_LOCK_WAITS` joined
 * twice to `INNODB_TRX` (needs the PROCESS privilege), keeping only the waits
 * it shows for certain: a holder with only shared locks has no trx_id and gives
 * an edge only when no other session could be it (mysql-innodb-waits.ts). No
 * per-session label is visible to others (performance_schema is off by default),
 * so the label travels as each statement's leading comment; an idle session
 * shows NULL, which is why labels list the MariaDB sessions a transaction holds.
 * Every read waits for a read window (innodb-view-window.ts), so that readers of
 * several processes do not keep InnoDB's view from being refreshed.
 */
export class MysqlLockWaits implements LockWaitSource {
  readonly idleSessionsShowLabel = false
  /** InnoDB's views cover every database of the server: the server as the connection settings name it. */
  readonly view: string
  readonly #participant: Participant
  /** The server's clock ahead of ours, from the last read: read windows are on the server's clock. */
  #serverAheadMs = 0

  constructor(participant: Participant, connection: Record<string, unknown>) {
    this.#participant = participant
    const { socketPath, host, port } = connection
    this.view = `mysql:${typeof socketPath === 'string' ? socketPath : `${String(host ?? 'localhost')}:${String(port ?? 3306)}`}`
  }

  sessionOf(conn: DriverConnection): string {
    return String(this.#participant.serverSessionOf(conn))
  }

  async probe(boundMs: number): Promise<string | undefined> {
    try {
      await this.lockWaits(boundMs)
      return undefined
    } catch (error) {
      const code = errno(error)
      if (code === ER_SPECIFIC_ACCESS_DENIED) return 'the shard user lacks the PROCESS privilege (GRANT PROCESS ON *.* TO …)'
      if (code !== undefined && NO_SUCH_TABLE.includes(code)) {
        return 'the server has no information_schema.INNODB_LOCK_WAITS (MySQL 8 keeps lock waits in performance_schema, which shardtx does not read)'
      }
      if (this.#participant.isConnectionError(error) || code === undefined) throw error
      return `reading INNODB_LOCK_WAITS failed: ${(error as Error).message}`
    }
  }

  async lockWaits(boundMs: number): Promise<LockWait[]> {
    // max_statement_time (seconds) bounds the query on the server; boundedQuery bounds it, the window's wait included, here.
    const sql = `${SERVER_TIME_SQL}; SET STATEMENT max_statement_time = ${Math.max(0.001, boundMs / 2000)} FOR ${INNODB_WAITS_SQL}`
    // Wait for the window before taking a pooled connection, so that waiting holds none.
    const start = performance.now()
    await readWindow(this.#serverAheadMs)
    return boundedQuery(this.#participant, Math.max(1, boundMs - (performance.now() - start)), async (conn) => {
      // Again with the connection in hand: a slow pool must not push the read out of the window.
      await readWindow(this.#serverAheadMs)
      const sentAt = Date.now()
      const [[time], rows] = await run<[[{ now: unknown }?], InnodbWaitRow[]]>(conn, sql)
      this.#serverAheadMs = serverAheadMs(time?.now, sentAt, Date.now()) ?? this.#serverAheadMs
      return lockWaitsOf(rows)
    })
  }

  async runLabelled(conn: DriverConnection, query: KnexQuery, runQuery: RunQuery, label: WaitLabel): Promise<unknown> {
    const sql = query.sql
    query.sql = labelComment(label) + sql
    try {
      return await runQuery(conn, query)
    } finally {
      // knex puts the SQL into the error message: show the caller's statement, not ours.
      query.sql = sql
    }
  }
}

function lockWaitsOf(rows: InnodbWaitRow[]): LockWait[] {
  return innodbWaits(rows).flatMap(({ waiter, blocker }) =>
    blocker === undefined ? [] : [{ waiter: waiter.thread, waiterText: waiter.query, blocker: blocker.thread, blockerText: blocker.query }],
  )
}
