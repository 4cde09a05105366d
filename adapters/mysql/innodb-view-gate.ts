/**
 * The server-wide named lock that every shardtx read of InnoDB's lock views
 * passes, in every process.
 *
 * InnoDB fills `INNODB_TRX`, `INNODB_LOCKS` and `INNODB_LOCK_WAITS` from one
 * cache that it refills only once nobody has read it for 100 ms, and every read
 * restarts that wait. Readers that together read a server more often than that
 * see the view of the moment the last refill happened, however old: measured
 * on MariaDB 10.11, one reader every 20–30 ms kept a new lock wait invisible for
 * as long as it read (docs/deadlocks.md). Each detector reads a shard at most once
 * per `deadlockTimeout`, but three or more waiting processes together read it
 * faster than every 100 ms.
 *
 * So a reader takes `GET_LOCK` (waiting its turn, bounded), reads, and keeps the
 * lock {@link HOLD_SECONDS} more, sleeping on the server, before it lets it go:
 * whoever reads next, of whatever process, finds the cache idle long enough to
 * be refilled. The lock is the server's, not the database's: the cache covers
 * every database of the server, so shards that share a server share the gate.
 * A session that dies lets the lock go with it. Readers outside shardtx are not
 * gated and can still keep the view stale.
 */
export const GATE_NAME = 'shardtx.innodb_lock_view'

/** How long the lock stays held after a read: more than InnoDB's 100 ms, with room for the read's own end. */
export const HOLD_SECONDS = 0.12

/** The statements a gated read sends, on one connection, one at a time. */
type Run = (sql: string) => Promise<unknown>

/**
 * Reads `sql` through the gate on one connection: waits at most `waitMs` for the
 * gate, answers `onRead` with the rows as soon as they come (or `undefined` when
 * the gate stayed taken, so nothing was read), then holds the gate its
 * {@link HOLD_SECONDS} and releases it. Resolves once the gate is released: the
 * connection is free for other work from then on. A failed read is thrown, after
 * the release.
 *
 * ```ts
 * await readThroughGate((sql) => run(conn, sql), INNODB_WAITS_SQL, 250, (rows) => resolve(rows ?? []))
 * ```
 */
export async function readThroughGate<T>(run: Run, sql: string, waitMs: number, onRead: (rows: T | undefined) => void): Promise<void> {
  const waitSeconds = Math.max(0, Math.round(waitMs) / 1000)
  const [row] = (await run(`SELECT GET_LOCK('${GATE_NAME}', ${waitSeconds}) AS got`)) as { got: unknown }[]
  // 0: still taken after the wait; NULL: the wait was killed. Either way not ours, and nothing to release.
  if (Number(row?.got) !== 1) return onRead(undefined)
  let read = false
  try {
    const rows = (await run(sql)) as T
    read = true
    onRead(rows)
  } finally {
    // A read that failed left the cache as it was: no need to hold the gate after it.
    if (read) await run(`DO SLEEP(${HOLD_SECONDS})`)
    await run(`DO RELEASE_LOCK('${GATE_NAME}')`)
  }
}
