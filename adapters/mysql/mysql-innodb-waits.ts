import { readWindow } from './innodb-view-window.js'

/** A session in `information_schema.INNODB_TRX`. */
export interface InnodbSession {
  /** `trx_mysql_thread_id`, as text. */
  thread: string
  /** `trx_state`: 'RUNNING', 'LOCK WAIT', … */
  state: string
  /** `trx_query`: the running statement, NULL while idle. */
  query: string | null
}

/**
 * Session `waiter` waits for `blocker`; or, when `blocker` is undefined, for a
 * transaction that holds only shared locks and that InnoDB does not name (one of
 * `candidates` such sessions).
 */
export interface InnodbWait {
  waiter: InnodbSession
  blocker: InnodbSession | undefined
  candidates: number
}

/**
 * InnoDB gives a transaction a trx_id only when it takes an IX/X lock; one that
 * has taken only shared locks (`LOCK IN SHARE MODE`, and so every shardtx branch
 * after its fence read until it writes) shows `trx_id = 0` in INNODB_TRX and
 * INNODB_LOCK_WAITS, and its lock ids start with `0:`. Joining on trx_id pairs
 * every such session with every such wait (measured on MariaDB 10.11), so:
 * - the waiter is matched by the lock it waits for, not by its trx_id;
 * - a holder with trx_id 0 is every trx-0 session that holds a lock struct: one
 *   row per candidate, and `innodbWaits` names it only when there is one.
 * One statement, so both views come from the same fill of InnoDB's cache.
 */
export const INNODB_WAITS_SQL = `SELECT w.requested_lock_id, w.blocking_trx_id,
    r.trx_mysql_thread_id AS waiter, r.trx_query AS waiter_query,
    b.trx_mysql_thread_id AS blocker, b.trx_state AS blocker_state, b.trx_query AS blocker_query,
    b.trx_requested_lock_id AS blocker_requested_lock_id
  FROM information_schema.INNODB_LOCK_WAITS w
  JOIN information_schema.INNODB_TRX r ON r.trx_state = 'LOCK WAIT' AND r.trx_requested_lock_id = w.requested_lock_id
  JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id AND b.trx_lock_structs > 0
    AND b.trx_mysql_thread_id <> r.trx_mysql_thread_id`

/** A row of {@link INNODB_WAITS_SQL}. */
export interface InnodbWaitRow {
  requested_lock_id: string
  blocking_trx_id: unknown
  waiter: unknown
  waiter_query: string | null
  blocker: unknown
  blocker_state: string
  blocker_query: string | null
  blocker_requested_lock_id: string | null
}

/**
 * Rows of {@link INNODB_WAITS_SQL}, sent by `read` once a read window opens
 * (innodb-view-window.ts, on this process's clock) so that the view is fresh and
 * this read does not keep it stale for the detectors. For reads outside the
 * detector: the epoch change's report of who blocks it (bounded, on a connection of
 * its own), and tests.
 *
 * ```ts
 * const blockers = innodbWaits(await innodbWaitRowsInWindow((sql) => knex.raw(sql)))
 * ```
 */
export async function innodbWaitRowsInWindow(read: (sql: string) => PromiseLike<unknown>): Promise<InnodbWaitRow[]> {
  await readWindow()
  const [rows] = (await read(INNODB_WAITS_SQL)) as [InnodbWaitRow[]]
  return rows
}

/** `trx:space:page:heap` (a record) or `trx:table`: what is locked, whoever asks. */
function lockTarget(lockId: string): string {
  return lockId.slice(lockId.indexOf(':'))
}

/**
 * The waits that rows of {@link INNODB_WAITS_SQL} show for certain. A wait-for
 * edge to a session that does not hold the lock can close a false cycle, and
 * the detector aborts a victim of it; a missing edge only leaves a real cycle to
 * the lock timeout. So where InnoDB leaves a doubt, no edge:
 * - a holder with trx_id 0 is named only when exactly one trx-0 session other
 *   than the waiter holds locks; otherwise the wait is reported unnamed;
 * - trx-0 waiters for the same record share one lock id, so a row cannot say
 *   which of them it is about. A granted lock that blocks one of them blocks all
 *   (they all ask for S on that record); a lock still waited for on that same
 *   record blocks only those queued behind it, so that edge is left out.
 *
 * ```ts
 * const [rows] = (await knex.raw(INNODB_WAITS_SQL)) as [InnodbWaitRow[]]
 * const named = innodbWaits(rows).filter((wait) => wait.blocker !== undefined)
 * ```
 */
export function innodbWaits(rows: readonly InnodbWaitRow[]): InnodbWait[] {
  const waitersOf = new Map<string, Set<string>>()
  for (const row of rows) {
    const waiters = waitersOf.get(row.requested_lock_id) ?? new Set<string>()
    waitersOf.set(row.requested_lock_id, waiters.add(String(row.waiter)))
  }
  const named = new Map<string, InnodbWait>()
  const unnamed = new Map<string, { waiter: InnodbSession; holders: Map<string, InnodbSession> }>()
  for (const row of rows) {
    const waiter: InnodbSession = { thread: String(row.waiter), state: 'LOCK WAIT', query: row.waiter_query }
    const blocker: InnodbSession = { thread: String(row.blocker), state: row.blocker_state, query: row.blocker_query }
    if (Number(row.blocking_trx_id) === 0) {
      const entry = unnamed.get(waiter.thread) ?? { waiter, holders: new Map() }
      unnamed.set(waiter.thread, entry)
      entry.holders.set(blocker.thread, blocker)
      continue
    }
    const queuedOnSameRecord =
      row.blocker_state === 'LOCK WAIT' &&
      row.blocker_requested_lock_id !== null &&
      lockTarget(row.blocker_requested_lock_id) === lockTarget(row.requested_lock_id)
    if (queuedOnSameRecord && waitersOf.get(row.requested_lock_id)!.size > 1) continue
    named.set(`${waiter.thread}>${blocker.thread}`, { waiter, blocker, candidates: 1 })
  }
  const waits = [...named.values()]
  for (const { waiter, holders } of unnamed.values()) {
    const [only] = holders.values()
    if (holders.size === 1) {
      if (!named.has(`${waiter.thread}>${only!.thread}`)) waits.push({ waiter, blocker: only, candidates: 1 })
    } else {
      waits.push({ waiter, blocker: undefined, candidates: holders.size })
    }
  }
  return waits
}
