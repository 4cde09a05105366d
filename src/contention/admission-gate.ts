import { AdmissionTimeoutError } from './admission-timeout-error.js'

/** Gives the slot back; calling it twice does nothing the second time. */
export type Release = () => void

/**
 * Admission counters of one cluster, in `cluster.stats().admission`.
 *
 * ```ts
 * const { queuedNow, timedOut } = cluster.stats().admission
 * ```
 */
export interface AdmissionStats {
  /** Transactions that may run at once (see docs/deadlocks.md). */
  capacity: number
  running: number
  /** Attempts admitted since the cluster was created, with or without waiting. */
  admitted: number
  queuedNow: number
  maxQueued: number
  /** Attempts that had to queue before they were admitted. */
  waited: number
  /** Attempts that gave up in the queue after `maxWait`. */
  timedOut: number
}

interface Waiter {
  readonly priority: number
  readonly seq: number
  readonly since: number
  admit(release: Release): void
  timer: NodeJS.Timeout
}

const noRelease: Release = () => {}

/**
 * Lets at most `capacity` transactions run at once and queues the others before
 * their callback starts, so none of them holds a connection while it waits. The
 * queue is served oldest first by the start time of the transaction's first
 * attempt: first attempts in arrival order, a retried one ahead of them (it has
 * aged), so a transaction that keeps losing cannot starve behind newcomers.
 *
 * ```ts
 * const gate = new AdmissionGate(8, 10_000)
 * const release = await gate.enter(Date.now())
 * try { await work() } finally { release() }
 * ```
 */
export class AdmissionGate {
  readonly capacity: number
  readonly #maxWaitMs: number
  readonly #queue: Waiter[] = []
  #running = 0
  #seq = 0
  #admitted = 0
  #maxQueued = 0
  #waited = 0
  #timedOut = 0

  constructor(capacity: number, maxWaitMs: number) {
    this.capacity = capacity
    this.#maxWaitMs = maxWaitMs
  }

  /**
   * Resolves with a release once the transaction may run. Rejects with
   * {@link AdmissionTimeoutError} after `maxWait` in the queue. A `signal` aborted
   * in the queue resolves at once with a release that holds nothing: the caller
   * then refuses to start, as for a signal aborted before the call.
   */
  enter(priority: number, signal?: AbortSignal): Release | Promise<Release> {
    if (this.#running < this.capacity && this.#queue.length === 0) return this.#take()
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
        timer: setTimeout(() => {
          signal?.removeEventListener('abort', onAbort)
          if (!this.#remove(waiter)) return
          this.#timedOut++
          reject(new AdmissionTimeoutError(performance.now() - waiter.since, this.#running, this.capacity))
        }, this.#maxWaitMs),
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#insert(waiter)
      this.#waited++
      this.#maxQueued = Math.max(this.#maxQueued, this.#queue.length)
    })
  }

  stats(): AdmissionStats {
    return {
      capacity: this.capacity,
      running: this.#running,
      admitted: this.#admitted,
      queuedNow: this.#queue.length,
      maxQueued: this.#maxQueued,
      waited: this.#waited,
      timedOut: this.#timedOut,
    }
  }

  #take(): Release {
    this.#running++
    this.#admitted++
    let released = false
    return () => {
      if (released) return
      released = true
      this.#running--
      this.#serve()
    }
  }

  #serve(): void {
    while (this.#running < this.capacity && this.#queue.length > 0) {
      const waiter = this.#queue.shift()!
      clearTimeout(waiter.timer)
      waiter.admit(this.#take())
    }
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
    return true
  }
}

/**
 * Runs `attempt` once `gate` admits it, and gives the slot back when it settles.
 *
 * ```ts
 * await admitted(gate, firstStartedAt, signal, () => runTransaction(…))
 * ```
 */
export async function admitted<T>(gate: AdmissionGate, priority: number, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  const release = await gate.enter(priority, signal)
  try {
    return await attempt()
  } finally {
    release()
  }
}
