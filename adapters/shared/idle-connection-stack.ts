/** The pool an {@link IdleConnectionStack} stands in front of. */
export interface BackingPool<C> {
  /** Takes a connection from the pool, with its acquire timeout and its checks. */
  acquire(): Promise<C>
  /** Gives a connection back to the pool. */
  release(conn: C): void
  /** How many acquires wait in the pool for a connection. */
  waiting(): number
  /** Whether `conn` passes the check the pool makes before handing a connection out. */
  reusable(conn: C): boolean
}

/** How long a connection may sit on the stack before it goes back to the pool (whose idle timeout then counts). */
export const STACK_IDLE_MS = 1_000

/**
 * The connections just given back, kept in front of a pool and handed out again
 * last in first out, without the pool's round trip (in knex's pool, tarn: an
 * asynchronous validation, a timer and about 25 promises per acquire and release).
 * The pool still counts them as in use, so its bound on connections holds, and
 * nothing waits for one while the stack holds it: a connection given back while an
 * acquire waits in the pool goes to the pool. One that fails the pool's check, or sat on the stack for
 * {@link STACK_IDLE_MS}, goes back to the pool too, whose own check and idle
 * timeout then close it; so does every one when the stack is drained (before the
 * pool closes, or when its idle connections are to be dropped). An acquire with
 * nothing on the stack is the pool's, with its timeout.
 *
 * ```ts
 * const stack = new IdleConnectionStack(pool)
 * const conn = await stack.acquire()
 * stack.release(conn)
 * ```
 */
export class IdleConnectionStack<C> {
  readonly #pool: BackingPool<C>
  readonly #idle: C[] = []
  /** performance.now() when each of #idle was given back. */
  readonly #since: number[] = []
  #sweeper: NodeJS.Timeout | undefined
  #closed = false

  constructor(pool: BackingPool<C>) {
    this.#pool = pool
  }

  /** How many connections sit on the stack now. */
  get size(): number {
    return this.#idle.length
  }
  acquire(): Promise<C> {
    const idle = this.take()
    return idle === undefined ? this.#pool.acquire() : Promise.resolve(idle)
  }

  /** The connection given back last that passes the pool's check, or undefined when none does. */
  take(): C | undefined {
    while (this.#idle.length > 0) {
      const conn = this.#idle.pop()!
      this.#since.pop()
      if (this.#pool.reusable(conn)) return conn
      this.#pool.release(conn)
    }
    return undefined
  }

  release(conn: C): void {
    if (this.#closed || this.#pool.waiting() > 0 || !this.#pool.reusable(conn)) return this.#pool.release(conn)
    // Given back twice: the pool would refuse the second; the stack must not hand it out twice.
    if (this.#idle.includes(conn)) return
    this.#idle.push(conn)
    this.#since.push(performance.now())
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), STACK_IDLE_MS)
      this.#sweeper.unref()
    }
  }

  /** Gives every connection on the stack back to the pool. */
  drain(): void {
    const idle = this.#idle.splice(0)
    this.#since.length = 0
    this.#stopSweeping()
    for (const conn of idle) this.#pool.release(conn)
  }

  /** Drains the stack and sends every later release straight to the pool. */
  close(): void {
    this.#closed = true
    this.drain()
  }

  /** Connections idle for STACK_IDLE_MS go back to the pool: they are the oldest, at the bottom. */
  #sweep(): void {
    const before = performance.now() - STACK_IDLE_MS
    let stale = 0
    while (stale < this.#since.length && this.#since[stale]! <= before) stale++
    const idle = this.#idle.splice(0, stale)
    this.#since.splice(0, stale)
    if (this.#idle.length === 0) this.#stopSweeping()
    for (const conn of idle) this.#pool.release(conn)
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
  }
}
