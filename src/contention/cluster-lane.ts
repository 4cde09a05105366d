import { withDeadline } from '../protocol/deadline.js'
import type { LaneLock } from './lane-lock.js'

/** The lane's counters, in `cluster.stats().admission.lane`. */
export interface LaneStats {
  /** Attempts go through the lane now (after a deadlock that this process's own concurrency did not cause). */
  engaged: boolean
  /** Attempts that ran holding the lane. */
  held: number
  /** Attempts that wanted it but ran without: the lane stayed taken for their whole wait, their signal aborted, or its session failed. */
  missed: number
}

/** After the lane's session failed, attempts run without it for this long rather than each paying a failed connect. */
const BROKEN_MS = 1_000

/**
 * The lane: one attempt at a time across the processes of a cluster whose
 * transactions keep deadlocking with each other's. An attempt takes this
 * process's turn (a FIFO, so that one session serves the process), then the log
 * shard's lane lock, before its callback starts: a waiter holds no row lock and no
 * connection of the pools, so it cannot close a cycle with the holder, and the
 * holder waits only for transactions outside the lane, whose cycles the deadlock
 * detector or a lock timeout ends.
 *
 * Every wait is bounded, by the attempt's own bound (at most `maxWaitMs`), and an
 * attempt that waited it runs without the lane, which only spares work and decides
 * nothing. A transaction started inside another one with `independent: true`
 * does not ask for the lane (the cluster sees to it): the one around it, which
 * waits for it, may hold its turn.
 */
export class ClusterLane {
  readonly #open: () => LaneLock
  readonly #place: () => string
  /** Where the open lock is (the log shard's id when it was opened). */
  #lockPlace: string | undefined
  readonly #maxWaitMs: number
  readonly #now: () => number
  #lock: LaneLock | undefined
  /** Resolves when the attempt ahead in this process has given its turn back. */
  #tail: Promise<void> = Promise.resolve()
  #brokenUntil = -Infinity
  /** Aborted by close(): every wait ends at once (a MariaDB session ends its GET_LOCK only after ~1 s). */
  readonly #closing = new AbortController()
  #held = 0
  #missed = 0

  /**
   * `open` makes the lock's session (lazily, again after a failure, and again when
   * `place` names another place: the log shard moved), whose acquire takes waits up
   * to `maxWaitMs`; `now` is for tests.
   */
  constructor(open: () => LaneLock, maxWaitMs: number, place: () => string = () => '', now: () => number = () => performance.now()) {
    this.#open = open
    this.#place = place
    this.#maxWaitMs = maxWaitMs
    this.#now = now
  }

  /**
   * Resolves once the attempt may run, holding the lane or, after waiting at most
   * `waitMs` (see the class) or until `signal` aborts, without it, with the function
   * that gives the turn back; call it once the attempt has settled.
   */
  async enter(waitMs: number, callerSignal?: AbortSignal): Promise<() => void> {
    const signal = callerSignal === undefined ? this.#closing.signal : AbortSignal.any([callerSignal, this.#closing.signal])
    const boundMs = Math.max(1, Math.min(waitMs, this.#maxWaitMs))
    const started = this.#now()
    const ahead = this.#tail
    let leave!: () => void
    this.#tail = new Promise((resolve) => (leave = resolve))
    const myTurn = await within(ahead, boundMs, signal)
    const left = boundMs - (this.#now() - started)
    if (!myTurn || signal.aborted || this.#now() < this.#brokenUntil || left < 1) {
      this.#missed++
      // Still in this process's turn order: the one behind waits for this attempt, within its own bound.
      return once(leave)
    }
    const acquiring = this.#acquire(left)
    const answered = await within(acquiring, left + grace(left), signal)
    if (!answered) {
      // The signal aborted while the server still kept it waiting: give up the session, and the
      // lock with it should it come (a lock taken for no one would hold every other process).
      this.#drop()
      this.#missed++
      return once(leave)
    }
    const held = await acquiring
    if (!held) {
      this.#missed++
      return once(leave)
    }
    this.#held++
    const lock = this.#lock
    return once(() => {
      if (this.#lock === lock) lock?.release()
      leave()
    })
  }

  stats(engaged: boolean): LaneStats {
    return { engaged, held: this.#held, missed: this.#missed }
  }

  async close(): Promise<void> {
    this.#closing.abort()
    await this.#drop()
  }

  /** Closes the lock's session: the server gives the lock back (or never grants it). */
  #drop(): Promise<void> {
    const lock = this.#lock
    this.#lock = undefined
    return lock?.close() ?? Promise.resolve()
  }

  async #acquire(waitMs: number): Promise<boolean> {
    // After the log moved (docs/moving-the-log.md), the lane is on the new log shard, as for processes started since.
    if (this.#lock !== undefined && this.#lockPlace !== this.#place()) void this.#drop()
    if (this.#lock === undefined) {
      this.#lockPlace = this.#place()
      this.#lock = this.#open()
    }
    const lock = this.#lock
    try {
      // The lock bounds the wait on the server; this bounds the rest (a connect to a log shard that does not answer).
      return await withDeadline(lock.acquire(waitMs), waitMs + grace(waitMs), () => {
        void lock.close()
        return new Error('the lane gave no answer in time')
      })
    } catch {
      // Dropped already (a signal gave up on it, or close()): nothing failed.
      if (this.#lock !== lock) return false
      // The session failed (log shard down, the bound missed): it is closed; try a fresh one later.
      this.#lock = undefined
      this.#brokenUntil = this.#now() + BROKEN_MS
      return false
    }
  }
}

/** What a lane lock may take beyond the wait it asked the server for before it counts as not answering. */
function grace(waitMs: number): number {
  return Math.min(waitMs, 1_000)
}

/** True when `ahead` settles within `ms`; false when `ms` pass or `signal` aborts first. */
function within(ahead: Promise<unknown>, ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', aborted)
      resolve(value)
    }
    const aborted = (): void => done(false)
    const timer = setTimeout(() => done(false), ms)
    signal?.addEventListener('abort', aborted, { once: true })
    void ahead.then(
      () => done(true),
      () => done(true),
    )
  })
}

function once(f: () => void): () => void {
  let done = false
  return () => {
    if (done) return
    done = true
    f()
  }
}
