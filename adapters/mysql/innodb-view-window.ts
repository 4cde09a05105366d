/**
 * When shardtx reads InnoDB's lock views: only in the first {@link WINDOW_MS} of
 * every {@link PERIOD_MS} of the server's clock, in every process.
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
 * times as long. The windows are on the server's clock: each read also asks the
 * server's time, and the next read of that server is timed by it, so processes on
 * hosts whose clocks disagree still read in step (to within half a round trip).
 * A reader out of step costs freshness only (docs/deadlocks.md says what a stale
 * view can and cannot mislead). Readers outside shardtx are not in step and can
 * still keep the view stale.
 */
export const PERIOD_MS = 250

/** The start of every period in which reads may begin. */
export const WINDOW_MS = 100

let windowsOn = true

/**
 * @internal For bench/ only: reads begin whenever asked, as before read windows,
 * so that the bench can show what the windows change. Not an option: without them
 * a few waiting processes keep deadlocks hidden until the lock timeout.
 */
export function setReadWindowsForBenchmark(on: boolean): void {
  windowsOn = on
}

/** Milliseconds from `now` (epoch ms on the server's clock) to when a read may begin: 0 inside a window. */
export function msUntilReadWindow(now: number): number {
  const phase = now % PERIOD_MS
  return phase < WINDOW_MS ? 0 : PERIOD_MS - phase
}

/**
 * Resolves when a read of InnoDB's lock views may begin, given how far the
 * server's clock is ahead of this process's (`serverAheadMs`, 0 when unknown).
 *
 * ```ts
 * await readWindow(clock.serverAheadMs)
 * const rows = await run(conn, INNODB_WAITS_SQL)
 * ```
 */
export async function readWindow(serverAheadMs = 0): Promise<void> {
  if (!windowsOn) return
  const wait = msUntilReadWindow(Date.now() + serverAheadMs)
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
}

/** Asks the server's time (epoch seconds, as text) ahead of a read, in the same round trip. */
export const SERVER_TIME_SQL = "SET STATEMENT time_zone = '+00:00' FOR SELECT UNIX_TIMESTAMP(NOW(6)) AS now"

/**
 * How far the server's clock is ahead of ours, from its answer to
 * {@link SERVER_TIME_SQL} sent at `sentAt` and answered at `answeredAt` (epoch ms):
 * the server read its clock about halfway. Undefined when the answer is not a time.
 */
export function serverAheadMs(serverNow: unknown, sentAt: number, answeredAt: number): number | undefined {
  if ((typeof serverNow !== 'string' || serverNow.trim() === '') && typeof serverNow !== 'number') return undefined
  const ms = Number(serverNow) * 1000 - (sentAt + answeredAt) / 2
  return Number.isFinite(ms) ? ms : undefined
}
