import type { LaneStatements } from '../shared/session-lane-lock.js'

/** MariaDB and MySQL refuse user lock names longer than this. */
const MAX_NAME = 64

/**
 * The lane as a user-level lock (`GET_LOCK`) of the log shard's server, named
 * after the log table: the wait is bounded on the server (fractional seconds are
 * honoured: `GET_LOCK(name, 0.25)` gave up after 250 ms here), and the answer is
 * 1 (taken), 0 (the wait ran out) or NULL (an error). User locks live in the
 * metadata lock system, not InnoDB, so the deadlock detector's InnoDB views never
 * show their waits.
 */
export function mysqlLaneStatements(logTable: string): LaneStatements {
  const name = `shardtx:${logTable}:lane`.slice(0, MAX_NAME)
  const quoted = `'${name.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  return {
    acquire: (waitMs) => `SELECT GET_LOCK(${quoted}, ${(waitMs / 1000).toFixed(3)}) AS taken`,
    taken: (result) => {
      const taken = (result as [{ taken: unknown }[]])[0]?.[0]?.taken
      if (taken === 1 || taken === 0) return taken === 1
      throw new Error(`GET_LOCK answered ${String(taken)}`)
    },
    waitRanOut: () => false,
    release: `DO RELEASE_LOCK(${quoted})`,
  }
}
