import type { DriverConnection, KnexQuery, RunQuery } from '../participant.js'
import type { WaitLabel } from './wait-label.js'

/**
 * One lock wait a shard reports: session `waiter` waits for a lock that session
 * `blocker` holds (or waits for ahead of it). Labels are whatever text the server
 * shows for each session, where a {@link WaitLabel} may be found; null when it
 * shows none (a MariaDB session that is idle between statements).
 */
export interface LockWait {
  waiter: string
  waiterText: string | null
  blocker: string
  blockerText: string | null
}

/**
 * What deadlock detection needs from a shard, implemented in `adapters/<dialect>/`:
 * the server's lock waits, a way to label a branch's statements, and the id of the
 * server session behind a connection.
 */
export interface LockWaitSource {
  /**
   * True when an idle session still shows its label to others (PostgreSQL's
   * `application_name`, set for the transaction). Sessions of shards where it
   * does not are listed in the label a transaction sends everywhere else.
   */
  readonly idleSessionsShowLabel: boolean
  /** The server session id behind a connection (pg `processID`, mysql2 `threadId`). */
  sessionOf(conn: DriverConnection): string
  /** Undefined when lock waits can be read here; otherwise why not, for the warning. */
  probe(boundMs: number): Promise<string | undefined>
  /** The lock waits of this shard now, under a bound of `boundMs` on the server and on the client. */
  lockWaits(boundMs: number): Promise<LockWait[]>
  /**
   * Runs a statement of a begun branch so that the server shows `label` for it,
   * in the same round trip as the statement.
   */
  runLabelled(conn: DriverConnection, query: KnexQuery, run: RunQuery, label: WaitLabel): Promise<unknown>
}
