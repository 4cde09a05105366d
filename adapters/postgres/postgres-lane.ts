import { xxh32StringInt32 } from '../../src/sharding/xxh32-string.js'
import type { LaneStatements } from '../shared/session-lane-lock.js'
import { sqlState } from './postgres-errors.js'

/** The first key of the lane's advisory lock ('st'), so that it is unlikely to be an application's. */
const LANE_CLASS = 0x7374
const LOCK_NOT_AVAILABLE = '55P03'

/**
 * The lane as a session advisory lock of the log shard's database, keyed by the
 * log table's name: `lock_timeout` bounds the wait on the server (55P03 when it
 * runs out). Advisory lock waits are not lock waits of a labelled session, so
 * the deadlock detector never sees them (its view lists `stx:` sessions only).
 */
export function postgresLaneStatements(logTable: string): LaneStatements {
  const key = `${LANE_CLASS}, ${xxh32StringInt32(`${logTable}:lane`, 0)}`
  return {
    acquire: (waitMs) => `SET lock_timeout = ${waitMs}; SELECT pg_advisory_lock(${key})`,
    taken: () => true,
    waitRanOut: (error) => sqlState(error) === LOCK_NOT_AVAILABLE,
    release: `SELECT pg_advisory_unlock(${key})`,
  }
}
