/**
 * When shardtx reads InnoDB's lock views: only in the first {@link WINDOW_MS} of
 * every {@link PERIOD_MS} of the wall clock, in every process.
 *
 * InnoDB fills `INNODB_TRX`, `INNODB_LOCKS` and `INNODB_LOCK_WAITS` from one
 * server-wide cache that it refills only once nobody has read it for 100 ms, and
 * every read restarts that wait. Readers that together read a server more often
 * than that see the view of the moment of the last refill, however old: measured
 * on MariaDB 10.11, one reader every 20–30 ms kept a new lock wait invisible for as
 * long as it read (docs/deadlocks.md). Each detector reads a shard at most once per
 * `deadlockTimeout`, but a few waiting processes together read it faster.
 *
 * Reading in windows leaves the cache unread for the rest of each period, 150 ms,
 * so the first read of every window finds it refilled; the window's later reads
 * get what that one read, at most {@link WINDOW_MS} old. Processes do not wait for
 * each other: a server-wide lock that made readers take turns, tried first, kept
 * the view fresh too, but made the victims of four processes wait two to five
 * times as long. Windows rest on the processes' clocks agreeing to within about
 * 25 ms (one machine, or NTP); a reader whose clock is off reads in the others'
 * quiet time, which costs freshness only (docs/deadlocks.md says what a stale view
 * can and cannot mislead). Readers outside shardtx are not in step and can still
 * keep the view stale.
 */
export const PERIOD_MS = 250

/** The start of every period in which reads may begin. */
export const WINDOW_MS = 100

/** Milliseconds from `now` (epoch ms) to when a read may begin: 0 inside a window. */
export function msUntilReadWindow(now: number): number {
  const phase = now % PERIOD_MS
  return phase < WINDOW_MS ? 0 : PERIOD_MS - phase
}

/**
 * Resolves when a read of InnoDB's lock views may begin.
 *
 * ```ts
 * await readWindow()
 * const rows = await run(conn, INNODB_WAITS_SQL)
 * ```
 */
export async function readWindow(): Promise<void> {
  const wait = msUntilReadWindow(Date.now())
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
}
