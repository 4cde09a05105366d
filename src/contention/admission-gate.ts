import { ConflictError, TransactionAbortedError } from '../errors.js'
import { AdmissionTimeoutError } from './admission-timeout-error.js'
import type { ClusterLane, LaneStats } from './cluster-lane.js'
import { DistributedDeadlockError } from './distributed-deadlock-error.js'

/**
 * How an attempt ended, for the limit: committed, a deadlock victim, a deadlock
 * victim whose cycle ran through other processes (the detector knows), or otherwise.
 */
export type AttemptOutcome = 'committed' | 'deadlock' | 'deadlock with other processes' | undefined

/** Gives the slot back, saying how the attempt ended; calling it twice does nothing the second time. */
export type Release = (outcome?: AttemptOutcome) => void

/**
 * Admission counters of one cluster, in `cluster.stats().admission`.
 *
 * ```ts
 * const { queuedNow, timedOut } = cluster.stats().admission
 * ```
 */
export interface AdmissionStats {
  /** Transactions that may run at once: as many as the smallest pool serves (see docs/deadlocks.md). */
  capacity: number
  /** How many it admits now: lowered by deadlocks, raised back by commits once they stop, at most `capacity`. */
  limit: number
  running: number
  /** Attempts admitted since the cluster was created, with or without waiting. */
  admitted: number
  queuedNow: number
  maxQueued: number
  /** Attempts that had to queue before they were admitted. */
  waited: number
  /** Attempts that gave up in the queue (stuck for `maxWait`, or waited their `timeout`). */
  timedOut: number
  /** Deadlock victims (the detector's, or a server's deadlock error): each one lowered the limit. */
  deadlocks: number
  /** The lane across processes, which a deadlock this process's own concurrency did not cause engages (docs/deadlocks.md). */
  lane: LaneStats
}

interface Waiter {
  readonly priority: number
  readonly seq: number
  readonly since: number
  admit(release: Release): void
  fail(error: AdmissionTimeoutError): void
  timer: NodeJS.Timeout
}

const noRelease: Release = () => {}

/**
 * After a deadlock, commits raise the limit again only once no victim has fallen
 * for this many times as long as the victim's attempt ran (from admission to its
 * failure): with the limit low for eight times what a deadlock costs, a burst on hot
 * rows loses about a ninth of its time to deadlocks. On 4 hot rows (64 clients, 20 s)
 * a factor of 4 gave 500–610 transfers/s, 8 gave 600–680.
 */
export const QUIET_FACTOR = 8
/**
 * How long a queue may stand still under a lowered limit before one more attempt is
 * let in: the detector's default `deadlockTimeout`, so that a cycle the extra attempt
 * closes is no worse than one the detector would be looking for anyway.
 */
export const DEFAULT_RELIEF_MS = 250
/** The longest quiet time one deadlock asks for, so that one long attempt does not hold the limit down for minutes. */
const MAX_QUIET_MS = 10_000

/**
 * Lets at most `capacity` transactions run at once and queues the others before
 * their callback starts, so none of them holds a connection while it waits. The
 * queue is served oldest first by the start time of the transaction's first
 * attempt: first attempts in arrival order, a retried one ahead of them (it has
 * aged), so a transaction that keeps losing cannot starve behind newcomers.
 *
 * A queued attempt gives up with {@link AdmissionTimeoutError} when no running
 * transaction has finished for `maxWait` (the gate is stuck, as a pool whose
 * connections never come back), or when it has waited its own `timeout` in all.
 * A queue that moves is not a failure: a burst on hot rows drains at the rate the
 * rows allow, and its last transaction may wait longer than `maxWait`.
 *
 * Below `capacity`, the number admitted follows the deadlocks, as TCP follows
 * losses: every deadlock victim (the detector's, or a server's deadlock error)
 * halves the limit; each commit raises it by 1/limit, but only once no victim has
 * fallen for {@link QUIET_FACTOR} times as long as the last one's attempt ran.
 * Other conflicts leave the limit alone: a lock timeout is often a refusal, not a
 * cycle (a branch that meets a fence an epoch change holds fails at once, or after
 * MariaDB's one-second wait), and lowering the limit for those cost resharding
 * throughput (docs/deadlocks.md).
 * A deadlock costs what it took to detect (a distributed one: `deadlockTimeout`
 * and a graph read, hundreds of ms) while a commit on a hot row takes a millisecond
 * or two. Raising the limit after the next commit, as TCP does, bought the next cycle
 * almost at once: on 4 hot rows the limit swung between 1 and 6 and 64 clients
 * committed 19 transfers/s, against 680 with the limit held at 1. Halving once per
 * window of attempts (TCP's rule for one loss event) took three detections to get
 * from 8 to 1; simultaneous victims are separate cycles, so each one halves. Where
 * transactions do not collide the limit stays at `capacity`; a rare deadlock lowers
 * it only for a while.
 *
 * The limit is this process's: it cannot keep processes from deadlocking with
 * each other. A victim that this process's own concurrency did not cause (its
 * cycle ran through another process, or no other attempt of this process ran at
 * any moment of its run) makes {@link AdmissionGate.laneWanted} true for the quiet
 * time it asked for, and {@link admitted} then runs attempts through the lane
 * (cluster-lane.ts).
 *
 * The lowered limit is a throttle, not the pool bound, so it never holds a queue
 * that does not move: when nothing running has finished for `reliefMs` (the
 * detector's `deadlockTimeout`, at most half of `maxWait`), one more attempt than
 * are running is let in, up to `capacity`. The running ones may be waiting for it (a
 * caller whose transactions wait for each other) or for another process's lock.
 */
export class AdmissionGate {
  readonly capacity: number
  readonly #maxWaitMs: number
  readonly #now: () => number
  readonly #queue: Waiter[] = []
  #limit: number
  /** Until then commits do not raise the limit (the clock of `now`). */
  #quietUntil = -Infinity
  /** Until then admitted attempts go through the lane (the clock of `now`). */
  #laneUntil = -Infinity
  #deadlocks = 0
  /** Fires when the queue has not moved for maxWait. */
  #stall: NodeJS.Timeout | undefined
  readonly #reliefMs: number
  /** Fires when the queue has not moved for reliefMs while the limit is below capacity. */
  #relief: NodeJS.Timeout | undefined
  #running = 0
  /** The running attempts (as many as `#running`), each marked once another ran beside it. */
  readonly #live = new Set<{ overlapped: boolean }>()
  #seq = 0
  #admitted = 0
  #maxQueued = 0
  #waited = 0
  #timedOut = 0

  /**
   * `reliefMs`: how long the queue may stand still under a lowered limit before one
   * more attempt is let in (see {@link AdmissionGate}); `now`: the clock the quiet
   * time is measured by (tests pass their own).
   */
  constructor(capacity: number, maxWaitMs: number, options: { reliefMs?: number; now?: () => number } = {}) {
    this.capacity = capacity
    this.#limit = capacity
    this.#maxWaitMs = maxWaitMs
    this.#reliefMs = options.reliefMs ?? DEFAULT_RELIEF_MS
    this.#now = options.now ?? (() => performance.now())
  }

  /**
   * Resolves with a release once the transaction may run; rejects with
   * {@link AdmissionTimeoutError} as said above. A `signal` aborted in the queue
   * resolves at once with a release that holds nothing: the caller then refuses
   * to start, as for a signal aborted before the call.
   */
  enter(priority: number, timeoutMs: number, signal?: AbortSignal): Release | Promise<Release> {
    if (this.#running < Math.floor(this.#limit) && this.#queue.length === 0) return this.#take()
    if (signal?.aborted) return noRelease
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#remove(waiter)) resolve(noRelease)
      }
      const waiter: Waiter = {
        priority,
        seq: this.#seq++,
        since: performance.now(),
        admit: (release) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(release)
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort)
          this.#timedOut++
          reject(error)
        },
        timer: setTimeout(() => {
          if (this.#remove(waiter)) waiter.fail(this.#timeoutError(waiter, `waited its whole timeout (${timeoutMs} ms)`))
        }, timeoutMs),
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#insert(waiter)
      this.#waited++
      this.#maxQueued = Math.max(this.#maxQueued, this.#queue.length)
      this.#stall ??= setTimeout(() => this.#stalled(), this.#maxWaitMs)
      this.#armRelief()
    })
  }

  /**
   * True while attempts should go through the lane: a deadlock victim fell that
   * this process's own concurrency did not cause, within the quiet time it asked
   * for: the detector saw its cycle run through other processes, or no other
   * attempt of this process ran at any moment of its run (so the cycle ran through
   * another process, or a session outside shardtx). A victim at a limit of 1 is
   * usually the latter.
   */
  laneWanted(): boolean {
    return this.#now() < this.#laneUntil
  }

  stats(lane: LaneStats = { engaged: false, held: 0, missed: 0 }): AdmissionStats {
    return {
      capacity: this.capacity,
      limit: Math.floor(this.#limit),
      running: this.#running,
      admitted: this.#admitted,
      queuedNow: this.#queue.length,
      maxQueued: this.#maxQueued,
      waited: this.#waited,
      timedOut: this.#timedOut,
      deadlocks: this.#deadlocks,
      lane,
    }
  }

  #take(): Release {
    this.#running++
    this.#admitted++
    const admittedAt = this.#now()
    // Whether another attempt of this process ran at some moment of this one's run.
    const attempt = { overlapped: this.#live.size > 0 }
    if (attempt.overlapped) for (const other of this.#live) other.overlapped = true
    this.#live.add(attempt)
    let released = false
    return (outcome) => {
      if (released) return
      released = true
      this.#live.delete(attempt)
      this.#running--
      if (outcome === 'committed') {
        if (this.#now() >= this.#quietUntil) this.#limit = Math.min(this.capacity, this.#limit + 1 / this.#limit)
      } else if (outcome !== undefined) {
        this.#deadlocks++
        const now = this.#now()
        const quietUntil = now + Math.min(MAX_QUIET_MS, QUIET_FACTOR * (now - admittedAt))
        this.#quietUntil = Math.max(this.#quietUntil, quietUntil)
        // This process's own concurrency did not make the cycle: only the lane can keep it from forming again.
        if (outcome === 'deadlock with other processes' || !attempt.overlapped) {
          this.#laneUntil = Math.max(this.#laneUntil, quietUntil)
        }
        this.#limit = Math.max(1, this.#limit / 2)
      }
      // A transaction finished: the queue is moving.
      this.#stall?.refresh()
      this.#relief?.refresh()
      this.#serve()
    }
  }

  #serve(): void {
    while (this.#running < Math.floor(this.#limit) && this.#queue.length > 0) {
      const waiter = this.#queue.shift()!
      clearTimeout(waiter.timer)
      waiter.admit(this.#take())
    }
    this.#settleStall()
    // Also a queue that formed under a higher limit, which a deadlock has just lowered.
    this.#armRelief()
  }

  /**
   * The lowered limit is a throttle, not the pool bound: when nothing running has
   * finished for reliefMs, the running attempts may be waiting for one in the queue
   * (a caller whose transactions wait for each other, or one held up on another
   * process's lock), so let one more in than are running, up to `capacity`.
   */
  #armRelief(): void {
    if (this.#relief === undefined && this.#queue.length > 0 && this.#running < this.capacity && Math.floor(this.#limit) < this.capacity) {
      this.#relief = setTimeout(() => this.#relieve(), this.#reliefMs)
    }
  }

  /** One more than are running now: those admitted under a higher limit may all be waiting. */
  #relieve(): void {
    this.#relief = undefined
    this.#limit = Math.min(this.capacity, Math.max(Math.floor(this.#limit), this.#running) + 1)
    this.#serve()
  }

  /** No transaction finished for maxWait: the running ones are stuck, so fail the queue rather than wait on. */
  #stalled(): void {
    this.#stall = undefined
    const queued = this.#queue.splice(0)
    for (const waiter of queued) {
      clearTimeout(waiter.timer)
      waiter.fail(this.#timeoutError(waiter, `no running transaction finished within maxWait (${this.#maxWaitMs} ms)`))
    }
  }

  #settleStall(): void {
    if (this.#queue.length > 0) return
    clearTimeout(this.#stall)
    this.#stall = undefined
    clearTimeout(this.#relief)
    this.#relief = undefined
  }

  #timeoutError(waiter: Waiter, why: string): AdmissionTimeoutError {
    return new AdmissionTimeoutError(why, performance.now() - waiter.since, this.#running, this.capacity)
  }

  /** Keeps the queue sorted by (priority, arrival): a binary search for the first later entry. */
  #insert(waiter: Waiter): void {
    const queue = this.#queue
    let low = 0
    let high = queue.length
    while (low < high) {
      const mid = (low + high) >>> 1
      const other = queue[mid]!
      if (other.priority < waiter.priority || (other.priority === waiter.priority && other.seq < waiter.seq)) low = mid + 1
      else high = mid
    }
    queue.splice(low, 0, waiter)
  }

  #remove(waiter: Waiter): boolean {
    const index = this.#queue.indexOf(waiter)
    if (index === -1) return false
    this.#queue.splice(index, 1)
    clearTimeout(waiter.timer)
    this.#settleStall()
    return true
  }
}

/**
 * Runs `attempt` once `gate` admits it (and through `lane`, while the gate wants
 * it), and gives the slot back when it settles. `attempt` hears when it was
 * admitted (performance.now), so that the wait for the lane counts in its timeout;
 * `waited` hears how long the admission took, in ms (for the admission-wait metric).
 */
export async function admitted<T>(
  gate: AdmissionGate,
  lane: ClusterLane | undefined,
  priority: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  attempt: (admittedAt: number) => Promise<T>,
  waited?: (ms: number) => void,
): Promise<T> {
  const asked = performance.now()
  const release = await gate.enter(priority, timeoutMs, signal)
  const admittedAt = performance.now()
  waited?.(admittedAt - asked)
  // Half the attempt's timeout at most, so that the attempt keeps time to run once through.
  const leaveLane = lane !== undefined && gate.laneWanted() ? await lane.enter(timeoutMs / 2, signal) : undefined
  try {
    const value = await attempt(admittedAt)
    leaveLane?.()
    release('committed')
    return value
  } catch (error) {
    leaveLane?.()
    release(outcomeOf(error))
    throw error
  }
}

/** A deadlock the servers or the detector broke by failing the attempt: the signal that lowers the limit. */
function outcomeOf(error: unknown): AttemptOutcome {
  const conflict = error instanceof TransactionAbortedError ? error.cause : error
  if (conflict instanceof DistributedDeadlockError && conflict.otherProcesses) return 'deadlock with other processes'
  const deadlock = conflict instanceof ConflictError && (conflict.kind === 'deadlock' || conflict.kind === 'distributed deadlock')
  return deadlock ? 'deadlock' : undefined
}
