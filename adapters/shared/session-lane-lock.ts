import type { Knex } from 'knex'
import type { LaneLock } from '../../src/contention/lane-lock.js'
import type { BranchDriver, DriverConnection } from '../../src/protocol/participant.js'
import { acquireConnection, releaseConnection } from './knex-internals.js'

/** What a dialect says to take and give back the lane's lock on its session. */
export interface LaneStatements {
  /** Takes the lock, waiting for it at most `waitMs` on the server. */
  acquire(waitMs: number): string
  /** True: taken; false: the wait ran out. Anything else throws. */
  taken(result: unknown): boolean
  /** True when the statement failed because the wait ran out (PostgreSQL's lock_timeout). */
  waitRanOut(error: unknown): boolean
  release: string
}

/**
 * The lane's lock (src/contention/lane-lock.ts) on a session of its own: a
 * connection of a private pool of the shard (`boundedKnex`), held from the first
 * acquire until close, so it never takes a connection transactions count on.
 * Every statement is bounded by the wait plus `statementMs`; one that misses
 * closes the session, and the server gives the lock back with it.
 */
export class SessionLaneLock implements LaneLock {
  readonly #shard: Pick<BranchDriver, 'boundedKnex'>
  readonly #statements: LaneStatements
  readonly #boundMs: number
  readonly #maxWaitMs: number
  #session: Promise<{ knex: Knex; conn: DriverConnection }> | undefined
  /** The statement sent last: the next waits for it (a release is not awaited, and pg wants one query at a time). */
  #last: Promise<unknown> = Promise.resolve()
  #closed = false

  /** `maxWaitMs`: the longest wait an acquire asks for (every statement is bounded by it plus `statementMs`). */
  constructor(shard: Pick<BranchDriver, 'boundedKnex'>, statements: LaneStatements, maxWaitMs: number, statementMs: number) {
    this.#shard = shard
    this.#statements = statements
    this.#maxWaitMs = maxWaitMs
    this.#boundMs = maxWaitMs + statementMs
  }

  async acquire(waitMs: number): Promise<boolean> {
    const wait = Math.max(1, Math.min(Math.round(waitMs), this.#maxWaitMs))
    try {
      return this.#statements.taken(await this.#run(this.#statements.acquire(wait)))
    } catch (error) {
      if (this.#statements.waitRanOut(error)) return false
      await this.close()
      throw error
    }
  }

  release(): void {
    this.#run(this.#statements.release).catch(() => this.close())
  }

  async close(): Promise<void> {
    const session = this.#session
    this.#session = undefined
    this.#closed = true
    if (session === undefined) return
    // Back to its private pool, which destroying then closes: the session ends, and the lock with it
    // (the pool closes each connection within a bound; it would wait for one still taken).
    await session
      .then(({ knex, conn }) => {
        releaseConnection(knex, conn)
        return knex.destroy()
      }, () => {})
      .catch(() => {})
  }

  #run(sql: string): Promise<unknown> {
    const run = this.#last.then(async () => {
      if (this.#closed) throw new Error('the lane session is closed')
      this.#session ??= this.#open()
      const { knex, conn } = await this.#session
      return knex.raw(sql).connection(conn)
    })
    this.#last = run.catch(() => {})
    return run
  }

  async #open(): Promise<{ knex: Knex; conn: DriverConnection }> {
    const knex = this.#shard.boundedKnex(this.#boundMs)
    try {
      return { knex, conn: await acquireConnection(knex) }
    } catch (error) {
      await knex.destroy().catch(() => {})
      throw error
    }
  }
}
