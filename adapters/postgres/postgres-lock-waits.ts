import type pg from 'pg'
import { labelText, type WaitLabel } from '../../src/contention/wait-label.js'
import type { DriverConnection, KnexQuery, LockWait, LockWaitSource, Participant, RunQuery } from '../../src/protocol/participant.js'
import { boundedQuery } from '../shared/bounded-query.js'
import { runWithBegin } from './pipelined-begin.js'
import { literal } from './postgres-sql.js'

type Connection = pg.Client & { shardtxLabel?: WaitLabel }

/** PostgreSQL keeps NAMEDATALEN − 1 = 63 bytes of `application_name`. */
const APPLICATION_NAME_BYTES = 63

/**
 * Sets the label for the rest of the transaction: `SET LOCAL` reverts at COMMIT,
 * ROLLBACK or PREPARE, so a pooled session never shows a finished transaction's.
 */
export function setLabelStatement(label: WaitLabel): string {
  return `SET LOCAL application_name = ${literal(labelText(label.txId, label.sessions, APPLICATION_NAME_BYTES))}`
}

/** Records that the session shows `label` now (sent with BEGIN). */
export function labelSent(conn: DriverConnection, label: WaitLabel): void {
  ;(conn as Connection).shardtxLabel = label
}

/** Each waiting session of this database beside every session it waits for, with both `application_name`s. */
const LOCK_WAITS_SQL = `SELECT w.pid::text AS waiter, w.application_name AS waiter_text, b.pid::text AS blocker, b.application_name AS blocker_text
  FROM pg_stat_activity w
  CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
  JOIN pg_stat_activity b ON b.pid = bp.pid
  WHERE w.wait_event_type = 'Lock' AND w.datname = current_database() AND w.application_name LIKE 'stx:%'`

/**
 * Lock waits of a PostgreSQL shard from `pg_blocking_pids` and `pg_stat_activity`;
 * a transaction's label is its `application_name`, set in its BEGIN round trip and
 * visible to other sessions of the same role (or of a member of `pg_read_all_stats`)
 * even while it sits idle.
 */
export class PostgresLockWaits implements LockWaitSource {
  readonly idleSessionsShowLabel = true
  readonly #participant: Participant

  constructor(participant: Participant) {
    this.#participant = participant
  }

  sessionOf(conn: DriverConnection): string {
    return String(this.#participant.serverSessionOf(conn))
  }

  async probe(boundMs: number): Promise<string | undefined> {
    try {
      await this.lockWaits(boundMs)
      return undefined
    } catch (error) {
      if (this.#participant.isConnectionError(error)) throw error
      return `reading pg_stat_activity with pg_blocking_pids failed: ${(error as Error).message}`
    }
  }

  lockWaits(boundMs: number): Promise<LockWait[]> {
    // statement_timeout bounds the query on the server; boundedQuery bounds the wait for it here.
    const sql = `BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.round(boundMs))}; ${LOCK_WAITS_SQL}; COMMIT`
    return boundedQuery(this.#participant, boundMs, async (conn) => {
      const results = (await (conn as Connection).query(sql)) as unknown as pg.QueryResult[]
      return (results[2]?.rows ?? []).map((row) => ({
        waiter: String(row.waiter),
        waiterText: row.waiter_text ?? null,
        blocker: String(row.blocker),
        blockerText: row.blocker_text ?? null,
      }))
    })
  }

  runLabelled(conn: DriverConnection, query: KnexQuery, run: RunQuery, label: WaitLabel): Promise<unknown> {
    const connection = conn as Connection
    if (connection.shardtxLabel === label) return run(conn, query)
    connection.shardtxLabel = label
    return runWithBegin(connection, [setLabelStatement(label)], query)
  }
}
