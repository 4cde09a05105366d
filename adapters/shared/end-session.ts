import type { Knex } from 'knex'
import { withDeadline } from '../../src/protocol/deadline.js'
import type { BranchDriver } from '../../src/protocol/participant.js'
import { withBoundedKnex } from '../../src/protocol/with-bounded-knex.js'

/** How often to look whether a session being ended is gone. */
const POLL_MS = 10

/**
 * The frame of `endSessionOf`: `end` asks the server to end a session and then waits
 * with `gone(check)`, which polls `check` until it says the session is gone. All within
 * `ms`, on a connection of its own, fresh (a pooled one may be on the path that lost the
 * session's answers). True once gone; false on any failure or when `ms` ran out.
 *
 * ```ts
 * return endSessionWithin(this, ms, async (knex, gone) => { await knex.raw('KILL …'); await gone(isGone) })
 * ```
 */
export async function endSessionWithin(
  shard: Pick<BranchDriver, 'boundedKnex'>,
  ms: number,
  end: (knex: Knex, gone: (check: () => Promise<boolean>) => Promise<void>) => Promise<void>,
): Promise<boolean> {
  let stop = false
  const gone = async (check: () => Promise<boolean>): Promise<void> => {
    while (!stop && !(await check())) await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
  try {
    await withDeadline(withBoundedKnex(shard, ms, (knex) => end(knex, gone)), ms, () => new Error('the session was not seen gone in time'))
    return true
  } catch {
    return false
  } finally {
    stop = true
  }
}
